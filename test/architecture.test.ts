import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The stages of src/, lowest first: a module imports only its own stage, lower stages and the ground
 * floor. The data flows up: ingest hands events to the pipeline, which plans them, batches them and
 * sends them through a destination; runtime wires everything.
 */
const STAGES = [
  ['errors.ts', 'logger.ts', 'secret.ts', 'kafka', 'redis'],
  ['status', 'ratelimit', 'batching'],
  ['destinations'],
  ['config'],
  ['ingest'],
  ['planning'],
  ['pipeline'],
  ['runtime'],
];

const src = new URL('../src/', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function stageOf(file: string): number {
  const top = relative(src, file).split('/')[0]!;
  const i = STAGES.findIndex((s) => s.includes(top));
  if (i < 0) throw new Error(`${relative(src, file)} is in no stage: add its folder to STAGES`);
  return i;
}

const graph = new Map<string, string[]>();
for (const file of files(src)) {
  const imports = [...readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map(
    (m) => normalize(join(dirname(file), m[1]!)).replace(/\.js$/, '.ts'),
  );
  graph.set(file, imports);
}

describe('the import graph of src/', () => {
  it('imports nothing outside src/ (no tools, dev stack or tests)', () => {
    const outside = [...graph].flatMap(([f, is]) =>
      is.filter((i) => !i.startsWith(src)).map((i) => `${relative(src, f)} -> ${i}`),
    );
    expect(outside).toEqual([]);
  });

  it('the dev stack stands alone: devstack/ imports nothing from src/ or tools/', () => {
    const devstack = new URL('../devstack/', import.meta.url).pathname;
    const imports = files(devstack).flatMap((f) =>
      [...readFileSync(f, 'utf8').matchAll(/from\s*'(\.{1,2}\/[^']+)'/g)]
        .map((m) => normalize(join(dirname(f), m[1]!)))
        .filter((i) => !i.startsWith(devstack))
        .map((i) => `${relative(devstack, f)} -> ${i}`),
    );
    expect(imports).toEqual([]);
  });

  it('has no upward import between stages', () => {
    const upward = [...graph].flatMap(([f, is]) =>
      is
        .filter((i) => i.startsWith(src) && stageOf(i) > stageOf(f))
        .map((i) => `${relative(src, f)} -> ${relative(src, i)}`),
    );
    expect(upward).toEqual([]);
  });

  it('has no cycle between modules', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(src, p)).join(' -> '));
        return;
      }
      state.set(f, 'open');
      for (const i of graph.get(f) ?? []) if (graph.has(i)) visit(i, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of graph.keys()) visit(f, []);
    expect(cycles).toEqual([]);
  });
});
