import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url);

describe('the product build', () => {
  it('compiles src/ only: no simulator, demo, dev stack or docs generator reaches dist/ or the image', () => {
    const out = execFileSync(
      process.execPath,
      ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json', '--listFilesOnly'],
      {
        cwd: root,
        encoding: 'utf8',
      },
    );
    const ours = out
      .split('\n')
      .filter((f) => f && !f.includes('/node_modules/'))
      .map((f) => f.replace(root.pathname, ''));
    expect(ours.length).toBeGreaterThan(30);
    expect(ours.filter((f) => !f.startsWith('src/'))).toEqual([]);
    expect(ours.filter((f) => /simulator|demo|config-docs/.test(f))).toEqual([]);
  });

  it("the image's build stage copies src/, schemas, the build scripts and the dependency patches only", () => {
    const dockerfile = readFileSync(new URL('Dockerfile', root), 'utf8');
    const build = dockerfile.split(/^FROM /m).find((stage) => stage.startsWith('node:20-slim AS build'))!;
    const copied = [...build.matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => m[1]!.split(' '));
    expect(copied.sort()).toEqual(
      [
        'package-lock.json',
        'package.json',
        'patches',
        'schemas',
        'scripts',
        'src',
        'tsconfig.build.json',
        'tsconfig.json',
      ].sort(),
    );
    expect(
      dockerfile
        .trim()
        .split(/^FROM /m)
        .at(-1),
    ).toMatch(/^node:20-slim\n/);
  });
});
