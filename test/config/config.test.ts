import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';

const env = { PK: 'project_live_123', RK: 'rest-secret-456' };
const base = () => ({
  batch: { projects: { demo: { projectKey: { env: 'PK' }, restApiKey: { env: 'RK' } } } },
  syncs: [
    {
      id: 'products',
      destination: { type: 'batch', project: 'demo', catalog: 'products' },
      mode: 'full_then_delta',
      operation: 'mirror',
      idColumn: 'sku',
      fields: [{ source: 'Name', attribute: 'name', type: 'string' }],
      customAttributes: ['color', { name: 'launch', type: 'date' }],
    },
  ],
});

function issues(input: unknown, e: NodeJS.ProcessEnv = env): string {
  try {
    parseConfig(input, e);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('configuration', () => {
  it('applies defaults and resolves secrets that never print', () => {
    const cfg = parseConfig(base(), env);
    expect(cfg.kafka.cdcTopic).toBe('catalog-sync.cdc');
    expect(cfg.syncs[0]!.flushWaitMs).toBe(1000);
    expect(cfg.syncs[0]!.guardrail.maxDeleteShare).toBe(0.5);
    const project = cfg.destinations.batch!.projects.demo!;
    expect(project.restApiKey.reveal()).toBe('rest-secret-456');
    const printed = `${JSON.stringify(cfg)} ${inspect(cfg, { depth: 10 })} ${String(project.restApiKey)}`;
    expect(printed).not.toContain('rest-secret-456');
    expect(printed).not.toContain('project_live_123');
  });

  it('lets the environment override endpoints', () => {
    const cfg = parseConfig(base(), {
      ...env,
      KAFKA_BROKERS: 'k1:9092,k2:9092',
      REDIS_URL: 'redis://r:1',
      HTTP_PORT: '0',
    });
    expect(cfg.kafka.brokers).toBe('k1:9092,k2:9092');
    expect(cfg.redis.url).toBe('redis://r:1');
    expect(cfg.http.port).toBe(0);
  });

  it('refuses mode and operation pairs that do not exist, naming the field', () => {
    const full = base();
    full.syncs[0]!.mode = 'full_only';
    expect(issues(full)).toMatch(/syncs\.0\.operation: mirror is not available in full_only/);
    const delta = base();
    delta.syncs[0]!.operation = 'delete_only';
    expect(issues(delta)).toMatch(/syncs\.0\.operation: delete_only is not available in full_then_delta/);
  });

  it('refuses attribute names breaking the naming rule, and attributes mapped twice', () => {
    const upper = base();
    upper.syncs[0]!.customAttributes = ['Color'];
    expect(issues(upper)).toMatch(/syncs\.0\.customAttributes\.0: .*\[a-z0-9_\]/);
    const long = base();
    long.syncs[0]!.fields[0]!.attribute = 'a'.repeat(31);
    expect(issues(long)).toMatch(/syncs\.0\.fields\.0\.attribute/);
    const twice = base();
    twice.syncs[0]!.customAttributes = ['name'];
    expect(issues(twice)).toMatch(/attribute name is mapped twice/);
  });

  it('refuses an unknown project, duplicate sync ids and a missing secret', () => {
    const unknown = base();
    unknown.syncs[0]!.destination.project = 'other';
    expect(issues(unknown)).toMatch(/syncs\.0\.destination\.project: project other is not defined/);
    const dup = base();
    dup.syncs.push({ ...dup.syncs[0]! });
    expect(issues(dup)).toMatch(/syncs\.1\.id: sync id products is used twice/);
    expect(issues(base(), { PK: 'x' })).toMatch(
      /batch\.projects\.demo\.restApiKey: environment variable RK is not set/,
    );
  });

  it('reads secrets from files and names the file when it cannot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    writeFileSync(join(dir, 'rk'), 'from-file\n');
    const cfg = base();
    cfg.batch.projects.demo.restApiKey = { file: join(dir, 'rk') } as never;
    expect(parseConfig(cfg, env).destinations.batch!.projects.demo!.restApiKey.reveal()).toBe('from-file');
    cfg.batch.projects.demo.restApiKey = { file: join(dir, 'missing') } as never;
    expect(issues(cfg)).toMatch(/cannot read secret file .*missing/);
  });

  it('loads YAML files and prefixes errors with the path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'syncs: []\n');
    expect(() => loadConfig(file, env)).toThrow(/bad\.yaml:\nsyncs: at least one sync is needed/);
    expect(() => loadConfig(join(dir, 'absent.yaml'), env)).toThrow(/cannot read config file/);
  });
});
