/**
 * The schema registry client: credentials (basic or bearer) and TLS, a probe that turns a refusal into
 * one clear error at start-up, and schema registration that holds when several processes register the
 * same new subject at once.
 */
import { request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { CatalogSyncError } from '../errors.js';
import type { Revealable } from './client.js';

/** How to reach the registry: its URL, credentials (none, basic or bearer) and TLS trust. */
export interface RegistryAccess {
  url: string;
  auth?:
    | { type: 'basic'; username: string; password: Revealable }
    | { type: 'bearer'; token: Revealable }
    | undefined;
  tls?:
    | {
        ca?: Revealable;
        cert?: Revealable;
        key?: Revealable;
        rejectUnauthorized?: boolean;
        servername?: string;
      }
    | undefined;
}

type ClientArgs = ConstructorParameters<typeof SchemaRegistry>[0];
type Middleware = NonNullable<ClientArgs['middlewares']>[number];

/** The Authorization header value of the configured credentials, if any. */
export function registryAuthorization(access: RegistryAccess): string | undefined {
  const { auth } = access;
  if (!auth) return undefined;
  if (auth.type === 'bearer') return `Bearer ${auth.token.reveal()}`;
  return `Basic ${Buffer.from(`${auth.username}:${auth.password.reveal()}`).toString('base64')}`;
}

/** An https.Agent trusting the configured CA (and presenting the client certificate), or none. */
function agentOf(access: RegistryAccess): HttpsAgent | undefined {
  const { tls } = access;
  if (!tls || !access.url.startsWith('https:')) return undefined;
  return new HttpsAgent({
    keepAlive: true,
    ...(tls.ca ? { ca: tls.ca.reveal() } : {}),
    ...(tls.cert ? { cert: tls.cert.reveal() } : {}),
    ...(tls.key ? { key: tls.key.reveal() } : {}),
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
    ...(tls.servername ? { servername: tls.servername } : {}),
  });
}

const agents = new WeakMap<RegistryAccess, HttpsAgent | undefined>();

function agentFor(access: RegistryAccess): HttpsAgent | undefined {
  if (!agents.has(access)) agents.set(access, agentOf(access));
  return agents.get(access);
}

/** A registry client with the section's credentials and TLS settings. */
export function createRegistry(access: RegistryAccess, clientId?: string): SchemaRegistry {
  const authorization = registryAuthorization(access);
  const agent = agentFor(access);
  const authorize: Middleware = () => ({
    async prepareRequest(next) {
      const req = await next();
      return req.enhance({ headers: { authorization: authorization ?? '' } });
    },
  });
  return new SchemaRegistry({
    host: access.url,
    ...(clientId ? { clientId } : {}),
    // The client's own basic-auth middleware takes the password as it is; both kinds go as a header.
    ...(authorization ? { middlewares: [authorize] } : {}),
    ...(agent ? { agent: agent as unknown as NonNullable<ClientArgs['agent']> } : {}),
  });
}

export type RegistryAccessCode = 'REGISTRY_AUTH_FAILED' | 'REGISTRY_TLS_UNTRUSTED' | 'REGISTRY_TLS_FAILED';

/** The registry refused this client for a reason no retry can fix; the message holds no secret. */
export class RegistryAccessError extends CatalogSyncError {
  constructor(code: RegistryAccessCode, message: string, cause?: unknown) {
    super(code, message, { retriable: false, cause });
  }
}

const UNTRUSTED =
  /^(UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|INVALID_CA|ERR_TLS_CERT_ALTNAME_INVALID)/;

/** One GET /subjects with the client's credentials and TLS: the status, or the transport error. */
export function probeRegistry(
  access: RegistryAccess,
  timeoutMs = 5000,
): Promise<{ status: number } | { error: Error & { code?: string } }> {
  return new Promise((resolve) => {
    const url = new URL(`${access.url.replace(/\/$/, '')}/subjects`);
    const authorization = registryAuthorization(access);
    const agent = agentFor(access);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      url,
      {
        method: 'GET',
        headers: { accept: 'application/json', ...(authorization ? { authorization } : {}) },
        ...(agent ? { agent } : {}),
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0 });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', (error) => resolve({ error }));
    req.end();
  });
}

/** For /readyz: true, or why the registry cannot be used. */
export async function registryReadiness(access: RegistryAccess): Promise<true | string> {
  const r = await probeRegistry(access, 2000);
  if ('error' in r) return `schema registry unreachable: ${r.error.message}`;
  return r.status >= 200 && r.status < 300 ? true : `schema registry answered ${r.status}`;
}

/**
 * Asks the registry once for its subjects, so wrong credentials or an untrusted certificate fail at
 * start-up with a RegistryAccessError naming the cause. Any other failure (registry down, 5xx) is left
 * to the client's retries, as before.
 */
export async function checkRegistryAccess(access: RegistryAccess): Promise<void> {
  const r = await probeRegistry(access);
  if ('status' in r) {
    if (r.status === 401 || r.status === 403) {
      const what = access.auth
        ? `its ${access.auth.type} credentials (check schemaRegistry.auth)`
        : 'anonymous access (set schemaRegistry.auth)';
      throw new RegistryAccessError(
        'REGISTRY_AUTH_FAILED',
        `the schema registry refused ${what}: HTTP ${r.status}`,
      );
    }
    return;
  }
  const code = r.error.code ?? '';
  if (UNTRUSTED.test(code)) {
    throw new RegistryAccessError(
      'REGISTRY_TLS_UNTRUSTED',
      `the schema registry's TLS certificate is not trusted (check schemaRegistry.tls.ca and the URL's host): ${code}`,
      r.error,
    );
  }
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO') {
    throw new RegistryAccessError(
      'REGISTRY_TLS_FAILED',
      `TLS to the schema registry failed (${code}); is this an https endpoint?`,
      r.error,
    );
  }
}

type Schema = Parameters<SchemaRegistry['register']>[0];

/**
 * `registry.register(schema, { subject })`, tried once more when it fails with 409 Conflict.
 *
 * For a subject it has not seen, the client registers the schema and then sets the subject's
 * compatibility level (PUT /config/{subject}). Apicurio Registry answers 409 ("A rule named
 * 'COMPATIBILITY' already exists") to the loser of two such PUTs that race, as when two instances
 * start together, although the schema is registered. The second attempt finds the level set, so it
 * only registers, which is idempotent. A schema that is incompatible (also 409) is refused again.
 */
export async function registerSchema(
  registry: SchemaRegistry,
  schema: Schema,
  subject: string,
): Promise<{ id: number }> {
  try {
    return await registry.register(schema, { subject });
  } catch (err) {
    if (typeof err !== 'object' || err === null || !('status' in err) || err.status !== 409) throw err;
    return registry.register(schema, { subject });
  }
}
