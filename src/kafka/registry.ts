/** Schema registration that holds when several processes register the same new subject at once. */
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';

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
