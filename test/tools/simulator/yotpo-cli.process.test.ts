import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../../../tools/simulator/main.ts', import.meta.url));

describe('npm run simulate: Yotpo options', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    if (child?.exitCode === null) child.kill('SIGKILL');
  });

  it('serves the stores given as --yotpo-store at --yotpo-requests-per-second', async () => {
    child = spawn(
      process.execPath,
      ['--import', 'tsx', MAIN, '--port', '0', '--yotpo-store', 's1:t1', '--yotpo-requests-per-second', '2'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let match: RegExpMatchArray | null = null;
    for await (const chunk of child.stdout!) {
      out += chunk;
      match = out.match(/simulator +(\S+)\n[\s\S]*yotpo +(\S+)\nstores +(\S+)\n/);
      if (match) break;
    }
    expect(match).not.toBeNull();
    const [, url, yotpoUrl, stores] = match!;
    expect(yotpoUrl).toBe(`${url}/core/v3`);
    expect(stores).toBe('s1');
    const post = (token: string) =>
      fetch(`${yotpoUrl}/stores/s1/customers`, {
        method: 'POST',
        headers: { 'x-yotpo-token': token, 'content-type': 'application/json' },
        body: JSON.stringify({ customer: { external_id: 'a' } }),
      }).then((r) => r.status);
    expect(await post('wrong')).toBe(401);
    expect([await post('t1'), await post('t1'), await post('t1')]).toEqual([200, 200, 429]);
    const stats = (await (await fetch(`${url}/_sim/yotpo/stats?store=s1`)).json()) as Record<string, number>;
    expect(stats).toMatchObject({ upserts: 2, rejected429: 1, errors4xx: 1 });
  });
});
