import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  apicurioPaths,
  findJava,
  javaCandidates,
  javaMajor,
  prepareStorage,
  storageCluster,
} from '../../devstack/apicurio.js';
import { registryStartable } from '../../devstack/stack.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'apicurio-test-'));

/** A fake JVM directory holding `bin/java` under each name. */
function jvmDir(...names: string[]): string {
  const dir = tmp();
  for (const name of names) {
    mkdirSync(join(dir, name, 'bin'), { recursive: true });
    writeFileSync(join(dir, name, 'bin', 'java'), '');
  }
  return dir;
}

describe('Java for Apicurio Registry', () => {
  it('reads the major version of old and new version strings', () => {
    expect(javaMajor('openjdk version "25.0.3" 2026-04-21 LTS')).toBe(25);
    expect(javaMajor('openjdk version "17.0.15" 2025-04-15')).toBe(17);
    expect(javaMajor('openjdk version "21" 2023-09-19')).toBe(21);
    expect(javaMajor('java version "1.8.0_402"')).toBe(8);
    expect(javaMajor('no java here')).toBeUndefined();
  });

  it('looks in JAVA_HOME, then PATH, then the JVM directory, higher versions first', () => {
    const dir = jvmDir('java-17-openjdk-amd64', 'temurin-25-jdk-amd64', 'temurin-21-jdk-amd64');
    mkdirSync(join(dir, 'not-a-jdk'));
    expect(javaCandidates({ JAVA_HOME: '/opt/jdk' }, dir)).toEqual([
      '/opt/jdk/bin/java',
      'java',
      join(dir, 'temurin-25-jdk-amd64/bin/java'),
      join(dir, 'temurin-21-jdk-amd64/bin/java'),
      join(dir, 'java-17-openjdk-amd64/bin/java'),
    ]);
    expect(javaCandidates({}, join(dir, 'missing'))).toEqual(['java']);
  });

  it('takes the first Java 21 or newer, past an older default', () => {
    const dir = jvmDir('java-17-openjdk-amd64', 'temurin-25-jdk-amd64');
    const versions: Record<string, number> = {
      java: 17,
      [join(dir, 'java-17-openjdk-amd64/bin/java')]: 17,
      [join(dir, 'temurin-25-jdk-amd64/bin/java')]: 25,
    };
    expect(findJava({}, { jvmDir: dir, probe: (j) => versions[j] })).toEqual({
      java: join(dir, 'temurin-25-jdk-amd64/bin/java'),
      major: 25,
    });
    expect(findJava({ JAVA_HOME: '/opt/jdk21' }, { jvmDir: dir, probe: () => 21 }).java).toBe(
      '/opt/jdk21/bin/java',
    );
  });

  it('fails naming what it found and what to install', () => {
    const dir = jvmDir('java-17-openjdk-amd64');
    expect(() => findJava({}, { jvmDir: dir, probe: () => 17 })).toThrow(
      /needs Java 21 or newer; found only java \(Java 17\), .*java-17-openjdk-amd64.*\(Java 17\)\. Install a JDK 21\+/,
    );
    expect(() => findJava({}, { jvmDir: dir, probe: () => undefined })).toThrow(/no Java was found/);
  });
});

describe('Apicurio Registry storage', () => {
  it('keeps the schemas of the same Kafka cluster and wipes those of another one', () => {
    const paths = apicurioPaths(tmp());
    const db = join(paths.dir, 'h2', 'registry.mv.db');
    const url = 'http://127.0.0.1:18090/apis/ccompat/v7';
    expect(prepareStorage(paths, { kafkaClusterId: 'one', url })).toBe(false);
    writeFileSync(db, 'schemas of cluster one');
    expect(prepareStorage(paths, { kafkaClusterId: 'one', url })).toBe(false);
    expect(readFileSync(db, 'utf8')).toBe('schemas of cluster one');

    expect(prepareStorage(paths, { kafkaClusterId: 'two', url })).toBe(true);
    expect(existsSync(db)).toBe(false);
    expect(storageCluster(paths)).toEqual({ kafkaClusterId: 'two', url });
  });

  it('wipes storage whose cluster is unknown', () => {
    const paths = apicurioPaths(tmp());
    mkdirSync(join(paths.dir, 'h2'), { recursive: true });
    writeFileSync(join(paths.dir, 'h2', 'registry.mv.db'), 'schemas of some cluster');
    expect(prepareStorage(paths, { kafkaClusterId: 'one', url: 'http://127.0.0.1:1/apis/ccompat/v7' })).toBe(
      true,
    );
  });
});

describe('which registry services:up starts', () => {
  it("starts Apicurio's Confluent API on this machine only", () => {
    expect(registryStartable('http://127.0.0.1:18090/apis/ccompat/v7')).toEqual({
      host: '127.0.0.1',
      port: 18090,
    });
    expect(registryStartable('http://localhost:18095/apis/ccompat/v7/')).toEqual({
      host: 'localhost',
      port: 18095,
    });
    expect(() => registryStartable('http://registry.internal:8081')).toThrow(/not local/);
    expect(() => registryStartable('http://127.0.0.1:18081')).toThrow(
      /set SCHEMA_REGISTRY_URL to such a URL/,
    );
  });
});
