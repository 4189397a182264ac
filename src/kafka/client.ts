/**
 * The one place that imports kafkajs. Its maintenance has slowed; @confluentinc/kafka-javascript offers a
 * KafkaJS-compatible API, so a swap should only touch this file.
 */
import { Kafka, type KafkaConfig, type LogEntry, logLevel, type SASLOptions } from 'kafkajs';
import { CatalogSyncError } from '../errors.js';
import type { Logger } from '../logger.js';

export type {
  Admin,
  Consumer,
  EachBatchPayload,
  IHeaders,
  ITopicConfig,
  KafkaMessage,
  Message,
  Producer,
} from 'kafkajs';
/**
 * Producers name `Partitioners.DefaultPartitioner` (Java-compatible murmur2, kafkajs 2's default): choosing
 * it explicitly is how kafkajs documents silencing its "switched default partitioner" warning.
 */
export { CompressionTypes, Partitioners } from 'kafkajs';

export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:19092';

/** A value that must not print (src/secret.ts's Secret): read only where the client is built. */
export interface Revealable {
  reveal(): string;
}

/** TLS to the brokers: server verification on by default, optional client certificate (mTLS). */
export interface KafkaTls {
  /** PEM CA bundle; without it, Node's default trust store (public CAs). */
  ca?: Revealable;
  /** PEM client certificate chain and its private key, for mTLS. */
  cert?: Revealable;
  key?: Revealable;
  keyPassphrase?: Revealable;
  /** Verify the broker's certificate and host name (default true). */
  rejectUnauthorized?: boolean;
  /** SNI and host-name check name, when the brokers' addresses differ from their certificates'. */
  servername?: string;
}

export type KafkaSasl =
  | { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: Revealable }
  /** OAUTHBEARER: `token` is called at each authentication (re-reads a file or re-runs a command). */
  | { mechanism: 'oauthbearer'; token: () => Promise<Revealable> };

/** How to reach and authenticate to the brokers; `tls`/`sasl` absent: PLAINTEXT. */
export interface KafkaConnection {
  brokers?: string[] | string | undefined;
  tls?: KafkaTls | undefined;
  sasl?: KafkaSasl | undefined;
}

export interface KafkaOptions extends KafkaConnection {
  clientId?: string;
  logger?: Logger;
  /** Fail fast (devstack probes) instead of kafkajs's default retry schedule. */
  retries?: number;
  connectionTimeoutMs?: number;
}

export function parseBrokers(value: string | string[] | undefined): string[] {
  if (Array.isArray(value)) return value;
  return (value ?? process.env.KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS)
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
}

/** The connection part of a parsed `kafka` config section (brokers, tls, sasl), for createKafka. */
export function connectionOf(k: KafkaConnection): KafkaConnection {
  return { brokers: k.brokers, tls: k.tls, sasl: k.sasl };
}

function tlsConfig(tls: KafkaTls | undefined): KafkaConfig['ssl'] {
  if (!tls) return undefined;
  return {
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    ...(tls.ca ? { ca: [tls.ca.reveal()] } : {}),
    ...(tls.cert ? { cert: tls.cert.reveal() } : {}),
    ...(tls.key ? { key: tls.key.reveal() } : {}),
    ...(tls.keyPassphrase ? { passphrase: tls.keyPassphrase.reveal() } : {}),
    ...(tls.servername ? { servername: tls.servername } : {}),
  };
}

function saslConfig(sasl: KafkaSasl | undefined): SASLOptions | undefined {
  if (!sasl) return undefined;
  if (sasl.mechanism === 'oauthbearer') {
    const token = sasl.token;
    return {
      mechanism: 'oauthbearer',
      oauthBearerProvider: async () => ({ value: (await token()).reveal() }),
    };
  }
  // kafkajs reads the password when it authenticates: a getter keeps it out of any dump of the config.
  const { mechanism, username, password } = sasl;
  const options = { mechanism, username } as SASLOptions & { password: string };
  Object.defineProperty(options, 'password', { get: () => password.reveal(), enumerable: false });
  return options;
}

/** Group generation per `groupId|memberId`, of each client createKafka made (see groupGeneration). */
const generations = new WeakMap<Kafka, Map<string, number>>();

/**
 * The generation of the group that the member's last join gave it, or undefined. kafkajs emits GROUP_JOIN
 * without it; its consumer group logs it ("Received assignment", debug) right before, which is where
 * createKafka's log creator reads it.
 */
export function groupGeneration(kafka: Kafka, groupId: string, memberId: string): number | undefined {
  return generations.get(kafka)?.get(`${groupId}|${memberId}`);
}

/**
 * kafkajs's production retry schedule, spelled out: kafkajs swaps in a schedule of ~2.5 s in all when
 * NODE_ENV is `test` (vitest sets it), shorter than a leader election after a broker dies (~9 s), so
 * tests would see clients give up that production keeps retrying. 8 retries span about 68 s.
 */
const RETRY = { initialRetryTime: 300, maxRetryTime: 30_000, factor: 0.2, multiplier: 2 };

export function createKafka(opts: KafkaOptions = {}): Kafka {
  const log = opts.logger;
  const ssl = tlsConfig(opts.tls);
  const sasl = saslConfig(opts.sasl);
  const joined = new Map<string, number>();
  const kafka = new Kafka({
    clientId: opts.clientId ?? 'catalog-sync',
    brokers: parseBrokers(opts.brokers),
    ...(ssl ? { ssl } : {}),
    ...(sasl ? { sasl } : {}),
    connectionTimeout: opts.connectionTimeoutMs ?? 3000,
    retry: { ...RETRY, retries: opts.retries ?? 8 },
    // Debug entries are read for the group generation only (never logged): see groupGeneration.
    logLevel: logLevel.DEBUG,
    logCreator: () => (entry: LogEntry) => {
      if (entry.level === logLevel.DEBUG) {
        const { groupId, memberId, generationId } = entry.log as Record<string, unknown>;
        if (entry.log.message === 'Received assignment' && typeof generationId === 'number')
          joined.set(`${String(groupId)}|${String(memberId)}`, generationId);
        return;
      }
      if (!log) return;
      const { message, ...extra } = entry.log;
      const fields = { kafka: entry.namespace, ...extra };
      // A heartbeat answered "rebalancing" is how every member learns of a rebalance: routine, not an error.
      const routine = typeof extra.error === 'string' && /rebalanc/i.test(extra.error);
      if (entry.level === logLevel.ERROR && !routine) log.error(fields, message);
      else if (routine) log.info(fields, message);
      else if (entry.level === logLevel.WARN) log.warn(fields, message);
      else log.debug(fields, message);
    },
  });
  generations.set(kafka, joined);
  return kafka;
}

export type { Kafka };

/**
 * The brokers refuse this client for a reason retrying cannot fix: credentials, certificates, or a
 * security protocol that does not match the listener. `code` names the cause; the message never holds
 * a secret (kafkajs's messages name the mechanism and the certificate problem, not the password).
 */
export class KafkaAccessError extends CatalogSyncError {
  constructor(code: KafkaAccessCode, message: string, cause?: unknown) {
    super(code, message, { retriable: false, cause });
  }
}

export type KafkaAccessCode =
  | 'KAFKA_AUTH_FAILED'
  | 'KAFKA_TLS_UNTRUSTED'
  | 'KAFKA_TLS_CLIENT_CERT'
  | 'KAFKA_TLS_FAILED'
  | 'KAFKA_PROTOCOL_MISMATCH';

/** Node's certificate verification failures (the broker's certificate or name is not trusted). */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function chain(err: unknown): (Error & { code?: unknown })[] {
  const out: (Error & { code?: unknown })[] = [];
  let e: unknown = err;
  for (let i = 0; i < 5 && e instanceof Error; i++) {
    out.push(e);
    e = (e as { cause?: unknown }).cause ?? (e as { originalError?: unknown }).originalError;
  }
  return out;
}

function protocolOf(c: KafkaConnection): string {
  return `${c.sasl ? 'SASL_' : ''}${c.tls ? 'SSL' : 'PLAINTEXT'}`;
}

/** For logs: the security protocol and mechanism, e.g. `SASL_SSL/scram-sha-512`, `SSL+client-cert`. */
export function securityOf(c: KafkaConnection): string {
  const mtls = c.tls?.cert ? '+client-cert' : '';
  return `${protocolOf(c)}${mtls}${c.sasl ? `/${c.sasl.mechanism}` : ''}`;
}

/** The first line of an error message, without OpenSSL's source-file noise. */
function firstLine(message: string): string {
  return (message.split('\n')[0] ?? '').replace(/^Connection error: /, '').trim();
}

/**
 * Sorts a kafkajs failure: a KafkaAccessError when no retry can succeed, 'suspect' when the broker
 * hung up without a word (a protocol mismatch, or a broker restarting), undefined for the rest.
 */
export function classifyKafkaError(
  err: unknown,
  c: KafkaConnection,
): KafkaAccessError | 'suspect' | undefined {
  if (err instanceof KafkaAccessError) return err;
  const errors = chain(err);
  const sasl = errors.find((e) => e.name === 'KafkaJSSASLAuthenticationError');
  if (sasl) {
    const who = c.sasl && c.sasl.mechanism !== 'oauthbearer' ? ` for user ${c.sasl.username}` : '';
    return new KafkaAccessError(
      'KAFKA_AUTH_FAILED',
      `Kafka rejected the SASL credentials${who} (check kafka.sasl): ${firstLine(sasl.message)}`,
      err,
    );
  }
  const coded = errors.find((e) => typeof e.code === 'string');
  const code = typeof coded?.code === 'string' ? coded.code : '';
  const message = firstLine(coded?.message ?? errors[0]?.message ?? String(err));
  if (UNTRUSTED.has(code)) {
    return new KafkaAccessError(
      'KAFKA_TLS_UNTRUSTED',
      `the Kafka broker's certificate is not trusted (check kafka.tls.ca and kafka.tls.servername): ${message}`,
      err,
    );
  }
  if (
    /ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE)/.test(code)
  ) {
    return new KafkaAccessError(
      'KAFKA_TLS_CLIENT_CERT',
      `the Kafka broker refused the TLS handshake, most likely the client certificate (check kafka.tls.cert and kafka.tls.key): ${code}`,
      err,
    );
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code.startsWith('ERR_SSL_') || code === 'EPROTO') {
    return new KafkaAccessError(
      'KAFKA_TLS_FAILED',
      `TLS to the Kafka broker failed (${code}); is this a TLS listener? ${message}`,
      err,
    );
  }
  if (c.tls && code === 'ECONNRESET' && /before secure TLS connection/.test(message)) return 'suspect';
  if (errors.some((e) => e.name === 'KafkaJSConnectionClosedError')) return 'suspect';
  return undefined;
}

function mismatch(c: KafkaConnection, cause: unknown): KafkaAccessError {
  if (c.tls && chain(cause).some((e) => e.code === 'ECONNRESET')) {
    return new KafkaAccessError(
      'KAFKA_PROTOCOL_MISMATCH',
      'the Kafka broker hung up during the TLS handshake: the listener probably does not speak TLS (check kafka.brokers and kafka.tls)',
      cause,
    );
  }
  const hint = c.tls
    ? c.sasl
      ? 'the listener may not be SASL_SSL, or may not offer this SASL mechanism'
      : 'the listener may expect SASL (set kafka.sasl), or may not speak TLS'
    : 'the listener probably expects TLS (set kafka.tls) or SASL (set kafka.sasl)';
  return new KafkaAccessError(
    'KAFKA_PROTOCOL_MISMATCH',
    `the Kafka broker closed the connection before answering this ${protocolOf(c)} client: ${hint}`,
    cause,
  );
}

/**
 * Connects once, without kafkajs's retries, and asks for the cluster's metadata, so a permanent refusal
 * (wrong password, untrusted certificate, wrong security protocol) fails at once with a KafkaAccessError
 * instead of a retry loop. A broker that hangs up without a word is asked `attempts` times before that
 * counts as a protocol mismatch. Any other failure (broker down, timeout) is left to the caller's retries.
 */
export async function checkKafkaAccess(
  opts: KafkaOptions,
  probe: { attempts?: number; pauseMs?: number } = {},
): Promise<void> {
  const attempts = probe.attempts ?? 3;
  let suspect: unknown;
  for (let i = 0; i < attempts; i++) {
    const admin = createKafka({
      ...connectionOf(opts),
      clientId: opts.clientId ?? 'catalog-sync',
      retries: 0,
      connectionTimeoutMs: opts.connectionTimeoutMs ?? 3000,
    }).admin();
    try {
      await admin.connect();
      await admin.describeCluster();
      return;
    } catch (err) {
      const verdict = classifyKafkaError(err, opts);
      if (verdict instanceof KafkaAccessError) throw verdict;
      if (verdict !== 'suspect') return;
      suspect = err;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (i < attempts - 1) await new Promise((r) => setTimeout(r, probe.pauseMs ?? 1000));
  }
  throw mismatch(opts, suspect);
}
