/** The environment overlay: variables that override file values, applied before the schema parses. */

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
  BATCH_API_URL: ['batch', 'baseUrl'],
  YOTPO_API_URL: ['yotpo', 'baseUrl'],
};

export function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv) {
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
    node[leaf] =
      name === 'HTTP_PORT'
        ? Number(value)
        : name === 'REDIS_CLUSTER_NODES'
          ? value.split(',').map((n) => n.trim())
          : value;
  }
}
