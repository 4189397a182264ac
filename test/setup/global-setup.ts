// Placeholder until devstack's services:up lands: points tests at the default local endpoints.
export default function setup() {
  process.env.KAFKA_BROKERS ??= '127.0.0.1:19092';
  process.env.SCHEMA_REGISTRY_URL ??= 'http://127.0.0.1:18081';
  process.env.REDIS_URL ??= 'redis://127.0.0.1:6379';
}
