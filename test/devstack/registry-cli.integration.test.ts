import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, expect, it } from 'vitest';
import { endpoints, testKafka, unique } from '../helpers/services.js';

const topic = unique('test-schemas-cli');

afterAll(async () => {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect();
  }
});

it('starts from the environment, logs where it listens, answers, and exits 0 on SIGTERM', async () => {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      new URL('../../devstack/registry/main.ts', import.meta.url).pathname,
      '--topic',
      topic,
    ],
    {
      env: { ...process.env, REGISTRY_PORT: '0', KAFKA_BROKERS: endpoints().kafkaBrokers, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines: { msg?: string; url?: string }[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; url?: string };
      lines.push(entry);
      if (entry.msg === 'development schema registry listening' && entry.url) resolve(entry.url);
    });
    exited.then((code) => reject(new Error(`registry exited with ${code} before listening`)));
  });

  const res = await fetch(`${url}/subjects`);
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual([]);

  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(lines.map((l) => l.msg)).toContain('stopping');
});
