/**
 * The one configuration schema (zod): every field, its default, its rule and its description (the
 * generated docs/configuration.md reads them). Secrets appear only as references (secret.ts).
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import {
  type DestinationSections,
  destinationPlugin,
  destinationSections,
  destinationTarget,
} from '../destinations/registry.js';
import type { KafkaSasl, KafkaTls } from '../kafka/client.js';
import type { RegistryAccess } from '../kafka/registry.js';
import type { RedisAccess } from '../redis/connection.js';
import { type Secret, secretRef } from '../secret.js';

export const ATTRIBUTE_NAME = /^[a-z0-9_]{1,30}$/;
const ATTRIBUTE_RULE = 'must be 1 to 30 characters of [a-z0-9_] (Batch attribute naming rule)';

const attributeName = z.string().regex(ATTRIBUTE_NAME, ATTRIBUTE_RULE);
const fieldType = z.enum(['string', 'integer', 'float', 'bool', 'date', 'url', 'array']);

const kafkaTls = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'connect to the brokers with TLS (SSL or SASL_SSL listeners); false keeps the section unused',
      ),
    ca: secretRef
      .optional()
      .describe("PEM CA bundle the brokers' certificates chain to; without it, Node's public CAs"),
    cert: secretRef.optional().describe('PEM client certificate (chain) for mTLS; needs key'),
    key: secretRef.optional().describe('PEM private key of the client certificate'),
    keyPassphrase: secretRef.optional().describe('passphrase of an encrypted private key'),
    rejectUnauthorized: z
      .boolean()
      .default(true)
      .describe("verify the broker's certificate and host name; turn off only for throwaway tests"),
    servername: z
      .string()
      .min(1)
      .optional()
      .describe("name checked against the broker's certificate (and sent as SNI) instead of its address"),
  })
  .strict()
  .superRefine((tls, ctx) => {
    if ((tls.cert === undefined) !== (tls.key === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [tls.cert === undefined ? 'cert' : 'key'],
        message: 'cert and key go together (mTLS)',
      });
    }
  });

/** TLS to Redis or the schema registry: a CA bundle, an optional client certificate, verification. */
function peerTls(peer: string) {
  return z
    .object({
      ca: secretRef
        .optional()
        .describe(`PEM CA bundle ${peer}'s certificate chains to; without it, Node's public CAs`),
      cert: secretRef.optional().describe('PEM client certificate for mTLS; needs key'),
      key: secretRef.optional().describe('PEM private key of the client certificate'),
      rejectUnauthorized: z
        .boolean()
        .default(true)
        .describe(`verify ${peer}'s certificate and host name; turn off only for throwaway tests`),
      servername: z
        .string()
        .min(1)
        .optional()
        .describe(`name checked against ${peer}'s certificate (and sent as SNI) instead of the URL's host`),
    })
    .strict()
    .superRefine((tls, ctx) => {
      if ((tls.cert === undefined) !== (tls.key === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: [tls.cert === undefined ? 'cert' : 'key'],
          message: 'cert and key go together (mTLS)',
        });
      }
    });
}

const registryAuth = z
  .discriminatedUnion('type', [
    z
      .object({
        type: z
          .literal('basic')
          .describe('HTTP basic authentication (Confluent: basic.auth.credentials.source=USER_INFO)'),
        username: z
          .string()
          .min(1)
          .optional()
          .describe('user name (e.g. a Confluent Cloud API key); with password'),
        password: secretRef.optional().describe('its password (e.g. the API secret)'),
        userInfo: secretRef
          .optional()
          .describe('instead of username and password: `user:password` in one secret (basic.auth.user.info)'),
      })
      .strict(),
    z
      .object({
        type: z.literal('bearer').describe('a bearer token (Authorization: Bearer)'),
        token: secretRef.describe('the token'),
      })
      .strict(),
  ])
  .superRefine((auth, ctx) => {
    if (auth.type !== 'basic') return;
    const pair = auth.username !== undefined || auth.password !== undefined;
    if (pair === (auth.userInfo !== undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['userInfo'],
        message: 'basic needs username and password, or userInfo',
      });
    else if (pair && (auth.username === undefined || auth.password === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [auth.username === undefined ? 'username' : 'password'],
        message: 'username and password go together',
      });
  });

const kafkaSasl = z
  .object({
    mechanism: z
      .enum(['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer'])
      .describe('SASL mechanism; use it with kafka.tls, PLAIN sends the password as it is'),
    username: z.string().min(1).optional().describe('plain, scram-*: user name (e.g. an API key)'),
    password: secretRef.optional().describe('plain, scram-*: the password (e.g. an API secret)'),
    tokenFile: z
      .string()
      .min(1)
      .optional()
      .describe('oauthbearer: file holding the token, read again at each authentication'),
    tokenCommand: z
      .string()
      .min(1)
      .optional()
      .describe('oauthbearer: shell command printing the token on stdout, run at each authentication'),
  })
  .strict()
  .superRefine((sasl, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (sasl.mechanism === 'oauthbearer') {
      if ((sasl.tokenFile === undefined) === (sasl.tokenCommand === undefined))
        issue('tokenFile', 'oauthbearer needs exactly one of tokenFile and tokenCommand');
      if (sasl.username !== undefined || sasl.password !== undefined)
        issue('username', 'oauthbearer takes a token, not a username and password');
      return;
    }
    if (sasl.username === undefined) issue('username', `${sasl.mechanism} needs a username`);
    if (sasl.password === undefined) issue('password', `${sasl.mechanism} needs a password`);
    if (sasl.tokenFile !== undefined || sasl.tokenCommand !== undefined)
      issue('tokenFile', 'tokenFile and tokenCommand are for oauthbearer only');
  });

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

/** A sync fed by a Debezium table topic instead of the warehouse's own change events (docs/debezium.md). */
const syncInput = z
  .object({
    topic: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka topic name')
      .describe('Debezium table topic, <topic.prefix>.<schema>.<table>'),
    envelope: z
      .literal('debezium')
      .describe(
        'debezium: snapshots are full runs, streamed changes a delta; idColumn names an `after` column',
      ),
  })
  .strict();

const syncSchema = z
  .object({
    id: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be 1 to 100 characters of [A-Za-z0-9_.-]')
      .describe('sync id carried by every CDC event of this sync'),
    destination: destinationTarget,
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
    input: syncInput
      .optional()
      .describe("where this sync's events come from; absent: kafka.cdcTopic in catalog-sync's own envelope"),
  })
  .strict()
  .superRefine((sync, ctx) => {
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
        changelogTopic: z
          .string()
          .min(1)
          .optional()
          .describe(
            "compacted topic that keeps every sync's membership beyond Redis (restored from on a loss); absent: <groupId>.state-changelog",
          ),
        sessionTimeoutMs: z
          .number()
          .int()
          .min(6000)
          .default(30_000)
          .describe('consumer group session timeout: how long a dead instance keeps its partitions'),
        replicationFactor: z
          .number()
          .int()
          .min(1)
          .optional()
          .describe(
            "replicas of each topic this service creates (CDC, status, dead-letter); absent: the brokers' default.replication.factor",
          ),
        minInsyncReplicas: z
          .number()
          .int()
          .min(1)
          .optional()
          .describe(
            "min.insync.replicas of each topic this service creates (acks=all writes need that many); absent: the brokers' default",
          ),
        tls: kafkaTls.optional().describe('TLS to the brokers (SSL, SASL_SSL); absent: plaintext'),
        sasl: kafkaSasl.optional().describe('SASL authentication to the brokers; absent: none'),
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
        auth: registryAuth.optional().describe('credentials sent to the registry; absent: none'),
        tls: peerTls('the registry')
          .optional()
          .describe("TLS trust for an https:// registry URL; absent: Node's public CAs"),
      })
      .strict()
      .prefault({}),
    redis: z
      .object({
        url: z
          .string()
          .default('redis://127.0.0.1:6379')
          .describe(
            'env REDIS_URL; rediss:// for TLS; may carry user:password (prefer username/password below)',
          ),
        keyPrefix: z
          .string()
          .regex(/^[A-Za-z0-9_.-]+$/)
          .default('cs')
          .describe('prefix of every Redis key'),
        tls: peerTls('Redis')
          .optional()
          .describe('TLS to Redis (implied by a rediss:// URL); absent: as the URL says'),
        cluster: z
          .object({
            nodes: z
              .array(z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port'))
              .min(1)
              .describe('seed nodes of a Redis Cluster, host:port; the others are discovered'),
          })
          .strict()
          .optional()
          .describe(
            "Redis Cluster through these seeds; the url's host is then unused, its scheme and credentials apply",
          ),
        username: z
          .string()
          .min(1)
          .optional()
          .describe('Redis ACL user (AUTH username password); without it, the default user'),
        password: secretRef.optional().describe("the ACL user's password (or requirepass)"),
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
    admin: z
      .object({
        token: secretRef
          .optional()
          .describe(
            'bearer token of the admin API and status page (same port as http); without it, mutating routes answer 403',
          ),
        protectReads: z
          .boolean()
          .default(false)
          .describe('require the token for the read routes and the status page too'),
      })
      .strict()
      .prefault({})
      .describe('admin REST API (/api/...) and status page (/)'),
    ...destinationSections,
    syncs: z.array(syncSchema).min(1, 'at least one sync is needed'),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    const ids = new Set<string>();
    cfg.syncs.forEach((s, i) => {
      if (ids.has(s.id))
        ctx.addIssue({ code: 'custom', path: ['syncs', i, 'id'], message: `sync id ${s.id} is used twice` });
      ids.add(s.id);
      if (
        s.input &&
        [cfg.kafka.cdcTopic, cfg.kafka.statusTopic, cfg.kafka.deadLetterTopic].includes(s.input.topic)
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['syncs', i, 'input', 'topic'],
          message: `${s.input.topic} is one of catalog-sync's own topics; name the Debezium table topic`,
        });
      }
      destinationPlugin(s.destination.type).check(s, cfg[s.destination.type], (path, message) =>
        ctx.addIssue({ code: 'custom', path: ['syncs', i, ...path], message }),
      );
    });
    const { replicationFactor: rf, minInsyncReplicas: isr } = cfg.kafka;
    if (rf !== undefined && isr !== undefined && isr > rf) {
      ctx.addIssue({
        code: 'custom',
        path: ['kafka', 'minInsyncReplicas'],
        message: `${isr} in-sync replicas cannot be reached with kafka.replicationFactor ${rf}: every write would fail`,
      });
    }
  });

export type RawConfig = z.infer<typeof configSchema>;
export type SyncConfig = RawConfig['syncs'][number];
export type FieldMapping = SyncConfig['fields'][number];

/** The `kafka` section with its TLS and SASL settings resolved (secrets read, as `Secret`s). */
export interface KafkaSection extends Omit<RawConfig['kafka'], 'tls' | 'sasl'> {
  tls?: KafkaTls | undefined;
  sasl?: KafkaSasl | undefined;
}

/** The `redis` section with its TLS settings and password resolved (as `Secret`s). */
export interface RedisSection extends Omit<RawConfig['redis'], 'tls' | 'password'>, RedisAccess {}

/** The `schemaRegistry` section with its credentials and TLS resolved (as `Secret`s). */
export type RegistrySection = RegistryAccess;

type SectionName = keyof typeof destinationSections;

/**
 * The configuration as the service uses it: secrets read, and the destination sections (top-level in
 * the file, e.g. `batch:`) gathered under `destinations`.
 */
export interface Config
  extends Omit<RawConfig, SectionName | 'kafka' | 'redis' | 'schemaRegistry' | 'admin'> {
  /** The admin API's token, read when the service starts listening (absent: mutating routes refused). */
  admin: { token?: Secret; protectReads: boolean };
  kafka: KafkaSection;
  schemaRegistry: RegistrySection;
  redis: RedisSection;
  destinations: DestinationSections;
}
