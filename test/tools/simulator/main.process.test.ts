import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../../../tools/simulator/main.ts', import.meta.url));

function start(args: string[]): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}

async function readUntil(child: ChildProcess, pattern: RegExp): Promise<RegExpMatchArray> {
  let out = '';
  for await (const chunk of child.stdout!) {
    out += chunk;
    const match = out.match(pattern);
    if (match) return match;
  }
  throw new Error(`simulator exited before printing ${pattern}: ${out}`);
}

describe('npm run simulate', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
  });

  it('serves the configured projects, prints its URLs and exits 0 on SIGTERM', async () => {
    child = start(['--port', '0', '--project', 'p1:k1', '--indexing-delay-ms', '0']);
    const [, url, batchUrl] = await readUntil(child, /simulator +(\S+)\nbatch +(\S+)\n/);
    expect(batchUrl).toBe(`${url}/2.11`);

    const headers = {
      authorization: 'Bearer k1',
      'x-batch-project': 'p1',
      'content-type': 'application/json',
    };
    const created = await fetch(`${batchUrl}/catalogs/create`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'products', fields: [] }),
    });
    expect(created.status).toBe(201);
    const demo = await fetch(`${batchUrl}/catalogs/list`, {
      headers: { authorization: 'Bearer rest_demo_key', 'x-batch-project': 'project_demo' },
    });
    expect(demo.status).toBe(401);

    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
  });

  it('refuses a malformed option with a non-zero exit', async () => {
    child = start(['--project', 'no-colon']);
    const [code] = await once(child, 'exit');
    expect(code).not.toBe(0);
  });
});
