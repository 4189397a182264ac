/**
 * Renders docs/configuration.md from the zod schema, so the reference cannot drift from what the
 * service accepts: every field with its type, default, environment override, description (the
 * schema's `.describe()` texts) and an example (schema `examples` metadata, else the sample config).
 * `--write` rewrites the file, `--check` exits 1 when it is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, ENV_OVERRIDES } from '../src/config/config.js';

export interface FieldDoc {
  path: string;
  type: string;
  required: boolean;
  default?: string;
  description: string;
  example?: string;
  env: string[];
  /** Set for a field of one form of a union: `type: yotpo`, `{env}`. */
  when?: string;
}

type Def = { type: string; [k: string]: unknown };
type Schema = z.ZodType;

const def = (s: Schema) => (s as unknown as { _zod: { def: Def } })._zod.def;
const meta = (s: Schema) => (s as unknown as { meta(): Record<string, unknown> | undefined }).meta?.();
const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional']);

/** The schema under its wrappers, with what the wrappers said: optional, default, descriptions. */
function unwrap(schema: Schema) {
  const descriptions: string[] = [];
  let s = schema;
  let optional = false;
  let dflt: { value: unknown } | undefined;
  let examples: unknown[] | undefined;
  for (;;) {
    if (s.description && !descriptions.includes(s.description)) descriptions.push(s.description);
    examples ??= meta(s)?.examples as unknown[] | undefined;
    const d = def(s);
    if (d.type === 'pipe') {
      s = d.in as Schema;
      continue;
    }
    if (!WRAPPERS.has(d.type)) break;
    if (d.type === 'optional' || d.type === 'default' || d.type === 'prefault') optional = true;
    if ((d.type === 'default' || d.type === 'prefault') && !dflt) dflt = { value: d.defaultValue };
    s = d.innerType as Schema;
  }
  return { schema: s, descriptions, optional, dflt, examples };
}

function checks(d: Def): Record<string, unknown>[] {
  return ((d.checks as { _zod: { def: Record<string, unknown> } }[] | undefined) ?? []).map(
    (c) => c._zod.def,
  );
}

/** A short type with its constraints, e.g. `integer 10..60000`, `string, url`. */
export function typeOf(schema: Schema): string {
  const { schema: s } = unwrap(schema);
  const d = def(s);
  const cs = checks(d);
  switch (d.type) {
    case 'string': {
      const parts = ['string'];
      for (const c of cs) {
        if (c.check === 'min_length') parts.push(`min length ${c.minimum}`);
        else if (c.check === 'max_length') parts.push(`max length ${c.maximum}`);
        else if (c.check === 'string_format' && c.format === 'regex') parts.push(`matching \`${c.pattern}\``);
        else if (c.check === 'string_format') parts.push(String(c.format));
      }
      return parts.join(', ');
    }
    case 'number': {
      const int = cs.some((c) => c.check === 'number_format' && String(c.format).includes('int'));
      const bounds = cs.flatMap((c) => {
        if (c.check === 'greater_than') return [`${c.inclusive ? '≥' : '>'} ${c.value}`];
        if (c.check === 'less_than') return [`${c.inclusive ? '≤' : '<'} ${c.value}`];
        return [];
      });
      return [int ? 'integer' : 'number', ...bounds].join(', ');
    }
    case 'boolean':
      return 'boolean';
    case 'enum':
      return `one of ${Object.values(d.entries as Record<string, string>)
        .map((v) => `\`${v}\``)
        .join(', ')}`;
    case 'literal':
      return `\`${(d.values as unknown[]).map((v) => JSON.stringify(v)).join(' | ')}\``;
    case 'array': {
      const min = cs.find((c) => c.check === 'min_length');
      return `list of ${typeOf(d.element as Schema)}${min ? `, at least ${min.minimum}` : ''}`;
    }
    case 'record':
      return `map of name → ${typeOf(d.valueType as Schema)}`;
    case 'object':
      return 'object';
    case 'union': {
      const disc = d.discriminator as string | undefined;
      return (d.options as Schema[])
        .map((o) => (def(unwrap(o).schema).type === 'object' ? `object ${formOf(o, disc)}` : typeOf(o)))
        .join(' or ');
    }
    default:
      return d.type;
  }
}

const hasFields = (s: Schema): boolean => {
  const d = def(unwrap(s).schema);
  if (d.type === 'object') return true;
  if (d.type === 'array') return hasFields(d.element as Schema);
  if (d.type === 'record') return hasFields(d.valueType as Schema);
  if (d.type === 'union') return (d.options as Schema[]).some(hasFields);
  return false;
};

/** Defaults computed from the machine (the instance id) are shown as what they stand for. */
function showDefault(value: unknown): string {
  const text = JSON.stringify(value);
  return text
    .replaceAll(`${hostname()}-${process.pid}`, '<hostname>-<pid>')
    .replaceAll(String(process.pid), '<pid>');
}

/** How one form of a union is told apart: its discriminator value, else its keys. */
function formOf(option: Schema, discriminator: string | undefined): string {
  const d = def(unwrap(option).schema);
  if (d.type !== 'object') return typeOf(option);
  const shape = d.shape as Record<string, Schema>;
  const disc = discriminator && shape[discriminator] ? def(unwrap(shape[discriminator]).schema) : undefined;
  if (disc?.type === 'literal') return `${discriminator}: ${(disc.values as unknown[]).join(' | ')}`;
  return `{${Object.keys(shape).join(', ')}}`;
}

/** Every field of the schema, depth first, in declaration order. */
export function describeSchema(
  sample: unknown = {},
  root: Schema = configSchema,
  envOverrides = ENV_OVERRIDES,
): FieldDoc[] {
  const envByPath = new Map<string, string[]>();
  for (const [name, path] of Object.entries(envOverrides)) {
    const key = path.join('.');
    envByPath.set(key, [...(envByPath.get(key) ?? []), name]);
  }
  const rows: FieldDoc[] = [];
  // `samples`: the sample config's values at this position (every list element, every map entry).
  const visit = (
    schema: Schema,
    path: string,
    when: string | undefined,
    emit: boolean,
    samples: unknown[],
  ) => {
    const u = unwrap(schema);
    const d = def(u.schema);
    if (emit) {
      const example = u.examples?.length ? u.examples[0] : exampleOf(u.schema, samples, u.dflt);
      rows.push({
        path,
        type: typeOf(schema),
        required: !u.optional,
        ...(u.dflt ? { default: showDefault(u.dflt.value) } : {}),
        description: u.descriptions.join('; '),
        ...(example === undefined ? {} : { example: JSON.stringify(example) }),
        env: envByPath.get(path) ?? [],
        ...(when ? { when } : {}),
      });
    }
    const objects = samples.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null);
    if (d.type === 'object') {
      for (const [key, child] of Object.entries(d.shape as Record<string, Schema>)) {
        const values = objects.map((o) => o[key]).filter((v) => v !== undefined);
        visit(child, path ? `${path}.${key}` : key, when, true, values);
      }
    } else if (d.type === 'array' && hasFields(d.element as Schema)) {
      visit(d.element as Schema, `${path}[]`, when, false, objects.filter(Array.isArray).flat());
    } else if (d.type === 'record' && hasFields(d.valueType as Schema)) {
      visit(d.valueType as Schema, `${path}.<name>`, when, false, objects.flatMap(Object.values));
    } else if (d.type === 'union') {
      const disc = d.discriminator as string | undefined;
      for (const option of d.options as Schema[]) {
        if (!hasFields(option)) continue;
        const form = formOf(option, disc);
        const matching = samples.filter((v) => option.safeParse(v).success);
        visit(option, path, when ? `${when}; ${form}` : form, false, matching);
      }
    }
  };
  visit(root, '', undefined, false, [sample]);
  return rows;
}

/**
 * A field's example: its value in the sample config when the sample sets it (objects and lists of
 * objects are left to their fields), else its default, else one made from the type when it says enough.
 */
function exampleOf(schema: Schema, samples: unknown[], dflt?: { value: unknown }): unknown {
  const d = def(schema);
  const mixed =
    d.type === 'union' || (d.type === 'array' && def(unwrap(d.element as Schema).schema).type === 'union');
  if (hasFields(schema) && !mixed) return undefined;
  const found = samples.find((v) => v !== undefined);
  if (found !== undefined) return found;
  if (dflt !== undefined) return dflt.value;
  const bound = checks(d).find((c) => c.check === 'greater_than' && c.inclusive);
  switch (d.type) {
    case 'enum':
      return Object.values(d.entries as Record<string, string>)[0];
    case 'literal':
      return (d.values as unknown[])[0];
    case 'boolean':
      return true;
    case 'number':
      return bound ? bound.value : 1;
    default:
      return undefined;
  }
}

const cell = (s: string) => s.replaceAll('|', '\\|').replaceAll('\n', ' ');
const code = (s: string) => (s.includes('`') ? `\`\` ${s} \`\`` : `\`${s}\``);

export function renderConfigDocs(sample: unknown, root: Schema = configSchema, envOverrides = ENV_OVERRIDES) {
  const rows = describeSchema(sample, root, envOverrides);
  const out = [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run docs:config` from the zod schema in src/config/schema.ts; do not edit by',
    "hand: change the schema's .describe() texts and re-run. test/docs/configuration.test.ts fails when",
    'this file is stale. -->',
    '',
    'catalog-sync reads one YAML or JSON file (`catalog-sync start --config FILE`, or `validate-config FILE`',
    'to check it without connecting to anything), overlays the environment variables below, and refuses',
    'to start on the first problem, naming the field and the rule. Secrets are never written in the file:',
    'a secret field names an environment variable (`{env: NAME}`) or a file (`{file: PATH}`).',
    'Examples come from `examples/demo-config.yaml` (the configuration `npm run demo` runs).',
    '',
    '## Environment variables',
    '',
    '| variable | overrides |',
    '| --- | --- |',
    ...Object.entries(envOverrides).map(([name, path]) => `| \`${name}\` | \`${path.join('.')}\` |`),
    '',
    '## Fields',
    '',
    '`a[]` is any element of the list `a`, `a.<name>` any entry of the map `a`. A field marked',
    '"with …" belongs to one form of a union and applies only when that form is used.',
  ];
  const sections = new Map<string, FieldDoc[]>();
  for (const r of rows) {
    const top = r.path.split(/[.[]/)[0]!;
    sections.set(top, [...(sections.get(top) ?? []), r]);
  }
  for (const [top, fields] of sections) {
    out.push('', `### \`${top}\``, '', '| field | type | default | env | description | example |');
    out.push('| --- | --- | --- | --- | --- | --- |');
    for (const f of fields) {
      const dflt = f.default !== undefined ? code(f.default) : f.required ? 'required' : '(optional)';
      const description = [f.description, f.when ? `(with ${f.when})` : ''].filter(Boolean).join(' ');
      out.push(
        `| ${[
          code(f.path),
          f.type,
          dflt,
          f.env.map((e) => `\`${e}\``).join(', '),
          description,
          f.example === undefined ? '' : code(truncate(f.example)),
        ]
          .map(cell)
          .join(' | ')} |`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}

const truncate = (text: string) => (text.length > 100 ? `${text.slice(0, 97)}...` : text);

export const DOC_FILE = fileURLToPath(new URL('../docs/configuration.md', import.meta.url));
export const SAMPLE_FILE = fileURLToPath(new URL('../examples/demo-config.yaml', import.meta.url));

export function renderFromFiles(): string {
  return renderConfigDocs(parseYaml(readFileSync(SAMPLE_FILE, 'utf8')));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const text = renderFromFiles();
  if (process.argv.includes('--check')) {
    const current = readFileSync(DOC_FILE, 'utf8');
    if (current !== text) {
      process.stderr.write('docs/configuration.md is stale: run npm run docs:config\n');
      process.exit(1);
    }
    process.stdout.write('docs/configuration.md is up to date\n');
  } else {
    writeFileSync(DOC_FILE, text);
    process.stdout.write(`wrote ${DOC_FILE}\n`);
  }
}
