/** The environment overlay: variables that override file values, applied before the schema parses. */
import { DESTINATION_ENV, isDestinationType } from '../destinations/registry.js';

/** Environment variables that override file values, by config path. */
export const ENV_OVERRIDES: Record<string, string[]> = {
  CATALOG_SYNC_INSTANCE_ID: ['instanceId'],
  LOG_LEVEL: ['logLevel'],
  KAFKA_BROKERS: ['kafka', 'brokers'],
  SCHEMA_REGISTRY_URL: ['schemaRegistry', 'url'],
  REDIS_URL: ['redis', 'url'],
  REDIS_KEY_PREFIX: ['redis', 'keyPrefix'],
  /** Comma-separated host:port seeds (`services:up --redis-cluster` prints them). */
  REDIS_CLUSTER_NODES: ['redis', 'cluster', 'nodes'],
  HTTP_PORT: ['http', 'port'],
  ...DESTINATION_ENV,
};

/** A destination's variables apply only to a section the file has: they never create one. */
export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv) {
  for (const [name, path] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    const [head, ...tail] = path;
    const leaf = tail.pop();
    if (value === undefined || value === '' || head === undefined) continue;
    if (isDestinationType(head) && raw[head] === undefined) continue;
    let node = raw;
    if (leaf !== undefined) {
      for (const part of [head, ...tail]) {
        node[part] ??= {};
        node = node[part] as Record<string, unknown>;
      }
    }
    node[leaf ?? head] =
      name === 'HTTP_PORT'
        ? Number(value)
        : name === 'REDIS_CLUSTER_NODES'
          ? value.split(',').map((n) => n.trim())
          : value;
  }
}
