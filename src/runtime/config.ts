/**
 * The one configuration schema: a YAML or JSON file, overlaid by environment variables, parsed once at
 * start-up. Secrets are never written in the file: it names an environment variable or a file to read.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isSupportedCountry } from 'libphonenumber-js';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CUSTOMER_FIELDS, IDENTITY_FIELD } from '../destinations/yotpo/index.js';
import { ConfigError } from '../errors.js';
import { Secret } from './secret.js';

export const ATTRIBUTE_NAME = /^[a-z0-9_]{1,30}$/;
const ATTRIBUTE_RULE = 'must be 1 to 30 characters of [a-z0-9_] (Batch attribute naming rule)';

const attributeName = z.string().regex(ATTRIBUTE_NAME, ATTRIBUTE_RULE);
const fieldType = z.enum(['string', 'integer', 'float', 'bool', 'date', 'url', 'array']);

const secretRef = z
  .union([
    z
      .object({ env: z.string().min(1).describe('name of the environment variable holding the secret') })
      .strict(),
    z
      .object({
        file: z.string().min(1).describe('path of a file holding the secret (trailing newline ignored)'),
      })
      .strict(),
  ])
  .describe('where a secret comes from: {env: NAME} or {file: PATH}; never the secret itself');

const fieldMapping = z
  .object({
    source: z.string().min(1).describe('column of the warehouse row'),
    attribute: attributeName.describe('Batch attribute it is written to'),
    type: fieldType.describe('Batch attribute type'),
  })
  .strict();

const customAttribute = z.union([
  attributeName,
  z
    .object({
      name: attributeName.describe('source column, exported under the same name'),
      type: fieldType.optional().describe('attribute type; inferred from the first value when omitted'),
    })
    .strict(),
]);

const batchDestination = z
  .object({
    type: z.literal('batch').describe('a Batch catalog'),
    project: z.string().min(1).describe('key of batch.projects this sync writes to'),
    catalog: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1 to 128 characters of [A-Za-z0-9_-]')
      .describe('Batch catalog name; created on first use when missing'),
  })
  .strict();

const yotpoDestination = z
  .object({
    type: z.literal('yotpo').describe("a Yotpo store's contacts"),
    store: z.string().min(1).describe('key of yotpo.stores this sync writes to'),
    matchKey: z
      .enum(['external_id', 'email', 'phone'])
      .describe('what the id column holds: the contact identity in Yotpo'),
    insertMode: z
      .boolean()
      .default(false)
      .describe('create contacts Yotpo does not know; off, they are skipped as NOT_FOUND'),
  })
  .strict();

/** Yotpo rules a sync must meet at load: operations, mapped fields, custom property names and types. */
function checkYotpoSync(sync: z.infer<typeof syncSchema>, ctx: z.RefinementCtx): void {
  if (sync.destination.type !== 'yotpo') return;
  if (sync.operation !== 'upsert') {
    ctx.addIssue({
      code: 'custom',
      path: ['operation'],
      message: `${sync.operation} is not available for Yotpo: catalog-sync never deletes Yotpo contacts; use upsert`,
    });
  }
  const identity = IDENTITY_FIELD[sync.destination.matchKey];
  const otherIdentity = { email: 'phone_number', phone_number: 'email', external_id: undefined }[identity];
  sync.fields.forEach((f, i) => {
    const kind = CUSTOMER_FIELDS[f.attribute];
    const issue = (message: string, leaf = 'attribute') =>
      ctx.addIssue({ code: 'custom', path: ['fields', i, leaf], message });
    if (!kind)
      issue(`${f.attribute} is not a Yotpo customer field (${Object.keys(CUSTOMER_FIELDS).join(', ')})`);
    else if (f.attribute === identity || f.attribute === 'external_id')
      issue(`${f.attribute} is the contact identity: it comes from idColumn, not from a mapped field`);
    else if (f.attribute === otherIdentity)
      issue(
        `Yotpo refuses ${identity} and ${f.attribute} together without an external_id; use matchKey external_id`,
      );
    else if ((kind === 'boolean') !== (f.type === 'bool'))
      issue(`Yotpo's ${f.attribute} is a ${kind === 'boolean' ? 'bool' : 'string'}`, 'type');
  });
  sync.customAttributes.forEach((c, i) => {
    const name = typeof c === 'string' ? c : c.name;
    const type = typeof c === 'string' ? undefined : c.type;
    if (CUSTOMER_FIELDS[name])
      ctx.addIssue({
        code: 'custom',
        path: ['customAttributes', i],
        message: `${name} is a standard Yotpo customer field; map it under fields`,
      });
    if (type === 'array')
      ctx.addIssue({
        code: 'custom',
        path: ['customAttributes', i, 'type'],
        message: 'Yotpo custom properties are primitives (string, boolean, number, ISO date), not arrays',
      });
  });
}

const syncSchema = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be 1 to 100 characters of [A-Za-z0-9_.-]')
      .describe('sync id carried by every CDC event of this sync'),
    destination: z.discriminatedUnion('type', [batchDestination, yotpoDestination]),
    mode: z.enum(['full_then_delta', 'full_only']).describe('Full then Delta, or Full Only'),
    operation: z.enum(['upsert', 'mirror', 'delete_only']).describe('Upsert, Mirror or Delete Only'),
    idColumn: z.string().min(1).describe('source column mapped to the item id (Product ID)'),
    fields: z.array(fieldMapping).default([]).describe('source columns mapped to existing attributes'),
    customAttributes: z
      .array(customAttribute)
      .default([])
      .describe('source columns exported under their own name; type inferred from the value when not given'),
    guardrail: z
      .object({
        maxDeleteShare: z
          .number()
          .min(0)
          .max(1)
          .default(0.5)
          .describe('a full run deleting more than this share of members holds its deletions'),
      })
      .strict()
      .prefault({}),
    flushWaitMs: z
      .number()
      .int()
      .min(10)
      .max(60_000)
      .default(1000)
      .describe('longest wait of a buffered change before its request is sent'),
  })
  .strict()
  .superRefine((sync, ctx) => {
    checkYotpoSync(sync, ctx);
    const valid = sync.mode === 'full_then_delta' ? ['upsert', 'mirror'] : ['upsert', 'delete_only'];
    if (!valid.includes(sync.operation)) {
      ctx.addIssue({
        code: 'custom',
        path: ['operation'],
        message: `${sync.operation} is not available in ${sync.mode}; use one of ${valid.join(', ')}`,
      });
    }
    const seen = new Set<string>();
    const names = [
      ...sync.fields.map((f) => f.attribute),
      ...sync.customAttributes.map((c) => (typeof c === 'string' ? c : c.name)),
    ];
    names.forEach((name, i) => {
      if (seen.has(name)) {
        const path =
          i < sync.fields.length ? ['fields', i, 'attribute'] : ['customAttributes', i - sync.fields.length];
        ctx.addIssue({ code: 'custom', path, message: `attribute ${name} is mapped twice` });
      }
      seen.add(name);
    });
  });

export const configSchema = z
  .object({
    instanceId: z
      .string()
      .min(1)
      .default(`${hostname()}-${process.pid}`)
      .describe('name of this instance in status events and logs (env CATALOG_SYNC_INSTANCE_ID)'),
    logLevel: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
      .default('info')
      .describe('env LOG_LEVEL'),
    kafka: z
      .object({
        brokers: z.string().min(1).default('127.0.0.1:19092').describe('comma-separated (env KAFKA_BROKERS)'),
        clientId: z.string().default('catalog-sync').describe('Kafka client id of this service'),
        groupId: z.string().default('catalog-sync').describe('consumer group shared by every instance'),
        cdcTopic: z
          .string()
          .default('catalog-sync.cdc')
          .describe('topic the warehouse writes change events to'),
        cdcPartitions: z
          .number()
          .int()
          .min(1)
          .default(6)
          .describe('partitions when this service creates the CDC topic'),
        statusTopic: z
          .string()
          .default('catalog-sync.status')
          .describe('topic of status events (Avro, keyed by sync) for downstream services'),
        deadLetterTopic: z
          .string()
          .default('catalog-sync.dead-letter')
          .describe('topic of undecodable or rejected events: original bytes, reason in x-dlq-* headers'),
        sessionTimeoutMs: z
          .number()
          .int()
          .min(6000)
          .default(30_000)
          .describe('consumer group session timeout: how long a dead instance keeps its partitions'),
      })
      .strict()
      .prefault({}),
    schemaRegistry: z
      .object({
        url: z
          .string()
          .url()
          .default('http://127.0.0.1:18090/apis/ccompat/v7')
          .describe('env SCHEMA_REGISTRY_URL'),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({
        url: z.string().default('redis://127.0.0.1:6379').describe('env REDIS_URL'),
        keyPrefix: z
          .string()
          .regex(/^[A-Za-z0-9_.-]+$/)
          .default('cs')
          .describe('prefix of every Redis key'),
      })
      .strict()
      .prefault({}),
    http: z
      .object({
        port: z
          .number()
          .int()
          .min(0)
          .max(65535)
          .default(9464)
          .describe('metrics and health probes (env HTTP_PORT)'),
        host: z.string().default('0.0.0.0').describe('address the metrics and health server listens on'),
      })
      .strict()
      .prefault({}),
    batch: z
      .object({
        baseUrl: z.string().url().default('https://api.batch.com/2.11').describe('env BATCH_API_URL'),
        projects: z.record(
          z.string(),
          z.object({ projectKey: secretRef, restApiKey: secretRef }).strict().describe('a Batch project'),
        ),
        limits: z
          .object({
            requestsPerSecond: z
              .number()
              .positive()
              .default(5)
              .describe('Batch requests per second per project'),
            itemsPerSecond: z
              .number()
              .positive()
              .default(1000)
              .describe('Batch item updates per second per project'),
            headroom: z
              .number()
              .gt(0)
              .max(1)
              .default(1)
              .describe(
                'share of the limits the shared bucket runs at; lower only to leave room for another client',
              ),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .optional(),
    yotpo: z
      .object({
        baseUrl: z.string().url().default('https://api.yotpo.com/core/v3').describe('env YOTPO_API_URL'),
        defaultCountry: z
          .string()
          .refine((c) => isSupportedCountry(c), 'must be an ISO 3166-1 alpha-2 region, e.g. FR')
          .optional()
          .describe('region of phone numbers written without +<country code>; without it they are rejected'),
        stores: z.record(
          z.string(),
          z.object({ storeId: secretRef, token: secretRef }).strict().describe('a Yotpo store'),
        ),
        limits: z
          .object({
            requestsPerSecond: z
              .number()
              .positive()
              .default(10)
              .describe(
                "store's API requests per second (upserts and look-ups); set it to your plan's limit",
              ),
            concurrency: z
              .int()
              .min(1)
              .max(64)
              .default(8)
              .describe('requests in flight per sync and instance'),
            headroom: z
              .number()
              .gt(0)
              .max(1)
              .default(0.98)
              .describe('share of the rate the shared bucket runs at'),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .optional(),
    syncs: z.array(syncSchema).min(1, 'at least one sync is needed'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const ids = new Set<string>();
    cfg.syncs.forEach((s, i) => {
      if (ids.has(s.id))
        ctx.addIssue({ code: 'custom', path: ['syncs', i, 'id'], message: `sync id ${s.id} is used twice` });
      ids.add(s.id);
      if (s.destination.type === 'batch' && !cfg.batch?.projects[s.destination.project]) {
        ctx.addIssue({
          code: 'custom',
          path: ['syncs', i, 'destination', 'project'],
          message: `project ${s.destination.project} is not defined under batch.projects`,
        });
      }
      if (s.destination.type === 'yotpo' && !cfg.yotpo?.stores[s.destination.store]) {
        ctx.addIssue({
          code: 'custom',
          path: ['syncs', i, 'destination', 'store'],
          message: `store ${s.destination.store} is not defined under yotpo.stores`,
        });
      }
    });
  });

export type RawConfig = z.infer<typeof configSchema>;
export type SyncConfig = RawConfig['syncs'][number];
export type FieldMapping = SyncConfig['fields'][number];
type SecretRef = z.infer<typeof secretRef>;

export interface ResolvedBatchProject {
  name: string;
  projectKey: Secret;
  restApiKey: Secret;
}

export interface ResolvedYotpoStore {
  name: string;
  storeId: Secret;
  token: Secret;
}

export interface Config extends Omit<RawConfig, 'batch' | 'yotpo'> {
  batch?: Omit<NonNullable<RawConfig['batch']>, 'projects'> & {
    projects: Record<string, ResolvedBatchProject>;
  };
  yotpo?: Omit<NonNullable<RawConfig['yotpo']>, 'stores'> & { stores: Record<string, ResolvedYotpoStore> };
}

/** Environment variables that override file values, by config path. */
export const ENV_OVERRIDES: Record<string, string[]> = {
  CATALOG_SYNC_INSTANCE_ID: ['instanceId'],
  LOG_LEVEL: ['logLevel'],
  KAFKA_BROKERS: ['kafka', 'brokers'],
  SCHEMA_REGISTRY_URL: ['schemaRegistry', 'url'],
  REDIS_URL: ['redis', 'url'],
  REDIS_KEY_PREFIX: ['redis', 'keyPrefix'],
  HTTP_PORT: ['http', 'port'],
  BATCH_API_URL: ['batch', 'baseUrl'],
  YOTPO_API_URL: ['yotpo', 'baseUrl'],
};

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv) {
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (path[0] === 'yotpo' && raw.yotpo === undefined) continue;
    let node = raw;
    for (const part of path.slice(0, -1)) {
      if (part === 'batch' && node.batch === undefined) break;
      node[part] ??= {};
      node = node[part] as Record<string, unknown>;
    }
    const leaf = path[path.length - 1]!;
    if (path[0] === 'batch' && raw.batch === undefined) continue;
    node[leaf] = name === 'HTTP_PORT' ? Number(value) : value;
  }
}

function readSecret(ref: SecretRef, path: string, env: NodeJS.ProcessEnv): Secret {
  if ('env' in ref) {
    const value = env[ref.env];
    if (!value) throw new ConfigError(`${path}: environment variable ${ref.env} is not set`, path);
    return new Secret(value);
  }
  try {
    const value = readFileSync(ref.file, 'utf8').trim();
    if (!value) throw new Error('file is empty');
    return new Secret(value);
  } catch (err) {
    throw new ConfigError(`${path}: cannot read secret file ${ref.file}: ${(err as Error).message}`, path);
  }
}

export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n');
}

/** Parses an already-read object (tests, docs checks) with the environment overlaid. */
export function parseConfig(input: unknown, env: NodeJS.ProcessEnv = process.env): Config {
  const raw = structuredClone((input ?? {}) as Record<string, unknown>);
  applyEnv(raw, env);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new ConfigError(formatIssues(result.error), first ? first.path.join('.') : '');
  }
  const cfg = result.data;
  const { batch, yotpo, ...rest } = cfg;
  const withYotpo: Config = yotpo ? { ...rest, yotpo: resolveYotpo(yotpo, env) } : rest;
  if (!batch) return withYotpo;
  const projects = Object.fromEntries(
    Object.entries(batch.projects).map(([name, p]) => [
      name,
      {
        name,
        projectKey: readSecret(p.projectKey, `batch.projects.${name}.projectKey`, env),
        restApiKey: readSecret(p.restApiKey, `batch.projects.${name}.restApiKey`, env),
      },
    ]),
  );
  return { ...withYotpo, batch: { ...batch, projects } };
}

function resolveYotpo(yotpo: NonNullable<RawConfig['yotpo']>, env: NodeJS.ProcessEnv): Config['yotpo'] {
  const stores = Object.fromEntries(
    Object.entries(yotpo.stores).map(([name, s]) => [
      name,
      {
        name,
        storeId: readSecret(s.storeId, `yotpo.stores.${name}.storeId`, env),
        token: readSecret(s.token, `yotpo.stores.${name}.token`, env),
      },
    ]),
  );
  return { ...yotpo, stores };
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let input: unknown;
  try {
    input = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid YAML or JSON: ${(err as Error).message}`);
  }
  try {
    return parseConfig(input, env);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${file}:\n${err.message}`, err.path);
    throw err;
  }
}
