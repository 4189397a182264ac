import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { configSchema, ENV_OVERRIDES, parseConfig } from '../../src/config/config.js';
import {
  DOC_FILE,
  describeSchema,
  renderConfigDocs,
  renderFromFiles,
  SAMPLE_FILE,
} from '../../tools/config-docs.js';

const committed = readFileSync(DOC_FILE, 'utf8');

describe('docs/configuration.md', () => {
  it('is what npm run docs:config renders from the schema today', () => {
    // On failure: run `npm run docs:config` and commit docs/configuration.md.
    expect(committed).toBe(renderFromFiles());
  });

  it('documents every ENV_OVERRIDES variable, on the row of the field it overrides', () => {
    const rows = describeSchema();
    for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
      const row = rows.find((r) => r.path === path.join('.'));
      expect(row, `${name} overrides ${path.join('.')}, which the schema lacks`).toBeDefined();
      expect(row!.env).toContain(name);
      expect(committed).toMatch(new RegExp(`\\| \`${path.join('\\.')}\` \\|[^\\n]*\`${name}\``));
    }
  });

  it('has a row for every field of the schema, each with a type and a default or "required"', () => {
    const rows = describeSchema();
    const paths = rows.map((r) => r.path);
    for (const key of Object.keys(configSchema.shape)) expect(paths).toContain(key);
    for (const r of rows) {
      expect(r.type, r.path).not.toBe('');
      expect(committed).toContain(`| \`${r.path}\` |`);
    }
  });

  it('takes its examples from a sample that is itself a valid configuration', () => {
    const sample = parseYaml(readFileSync(SAMPLE_FILE, 'utf8'));
    expect(() =>
      parseConfig(sample, { DEMO_BATCH_PROJECT_KEY: 'p', DEMO_BATCH_REST_API_KEY: 'k' }),
    ).not.toThrow();
    const row = describeSchema(sample).find((r) => r.path === 'syncs[].destination.catalog');
    expect(row?.example).toBe('"products"');
  });
});

describe('renderConfigDocs on any schema', () => {
  const schema = z
    .object({
      name: z.string().min(2).describe('a name'),
      retries: z.number().int().min(0).max(9).default(3).describe('how many times'),
      nested: z
        .object({ on: z.boolean().default(false), level: z.enum(['low', 'high']).optional() })
        .prefault({}),
      targets: z.array(
        z.discriminatedUnion('kind', [
          z.object({ kind: z.literal('http'), url: z.string().url().describe('endpoint') }),
          z.object({ kind: z.literal('file'), path: z.string() }),
        ]),
      ),
      secrets: z.record(z.string(), z.union([z.object({ env: z.string() }), z.object({ file: z.string() })])),
      tag: z
        .union([z.string(), z.number()])
        .optional()
        .meta({ examples: ['blue'] }),
    })
    .strict();
  const sample = { name: 'demo', targets: [{ kind: 'file', path: '/tmp/x' }], secrets: { a: { env: 'A' } } };
  const rows = describeSchema(sample, schema, { APP_RETRIES: ['retries'] });
  const row = (path: string, when?: string) => rows.find((r) => r.path === path && r.when === when);

  it('walks optional, default, prefault, nested objects, lists, maps and unions', () => {
    expect(row('name')).toMatchObject({ type: 'string, min length 2', required: true, example: '"demo"' });
    expect(row('retries')).toMatchObject({
      type: 'integer, ≥ 0, ≤ 9',
      required: false,
      default: '3',
      env: ['APP_RETRIES'],
      description: 'how many times',
    });
    expect(row('nested')).toMatchObject({ type: 'object', default: '{}' });
    expect(row('nested.level')).toMatchObject({ type: 'one of `low`, `high`', required: false });
    expect(row('targets[].url', 'kind: http')).toMatchObject({
      type: 'string, url',
      description: 'endpoint',
    });
    expect(row('targets[].path', 'kind: file')).toMatchObject({ example: '"/tmp/x"' });
    expect(row('targets[].kind', 'kind: http')?.example).toBe('"http"');
    expect(row('secrets.<name>.env', '{env}')?.example).toBe('"A"');
    expect(row('secrets.<name>.file', '{file}')).toBeDefined();
    expect(row('tag')).toMatchObject({ type: 'string or number', example: '"blue"' });
  });

  it('renders one table per top-level field and escapes pipes', () => {
    const md = renderConfigDocs(sample, schema, { APP_RETRIES: ['retries'] });
    expect(md).toContain('### `targets`');
    expect(md).toContain('| `APP_RETRIES` | `retries` |');
    expect(md).toMatch(/\| `targets\[\]\.url` \| string, url \|/);
    expect(md).not.toMatch(/`[^`\n]*[^\\]\|[^`\n]*` \|/);
  });
});
