/**
 * Custom attributes travel as the customer's `custom_properties`, which Yotpo marks deprecated in favour
 * of dedicated customer-property endpoints: this module is the one place that knows, so moving to those
 * endpoints changes it alone.
 */

/** Names Yotpo accepts: letters, digits and underscores (no spaces). */
export const PROPERTY_NAME = /^[A-Za-z0-9_]{1,100}$/;
export const PROPERTY_NAME_RULE =
  'must be letters, digits and underscores, no spaces (Yotpo custom property)';

export type PropertyValue = string | number | boolean;

/** One value as Yotpo takes it: string, boolean, int, long, double, or a date as an ISO 8601 string. */
export function encodeProperty(
  name: string,
  value: unknown,
): { ok: true; value: PropertyValue } | { ok: false; reason: string } {
  if (!PROPERTY_NAME.test(name))
    return { ok: false, reason: `custom property ${name} ${PROPERTY_NAME_RULE}` };
  if (typeof value === 'string' || typeof value === 'boolean') return { ok: true, value };
  if (typeof value === 'number') {
    return Number.isFinite(value)
      ? { ok: true, value }
      : { ok: false, reason: `custom property ${name}: ${value} is not a finite number` };
  }
  if (
    typeof value === 'bigint' &&
    value <= BigInt(Number.MAX_SAFE_INTEGER) &&
    value >= -BigInt(Number.MAX_SAFE_INTEGER)
  )
    return { ok: true, value: Number(value) };
  if (value instanceof Date && !Number.isNaN(value.getTime()))
    return { ok: true, value: value.toISOString() };
  return {
    ok: false,
    reason: `custom property ${name}: Yotpo takes a string, boolean, number or ISO date, not ${Array.isArray(value) ? 'an array' : typeof value}`,
  };
}

/** Puts encoded properties on the customer body. */
export function withProperties(
  customer: Record<string, unknown>,
  properties: Record<string, PropertyValue>,
): Record<string, unknown> {
  return Object.keys(properties).length === 0 ? customer : { ...customer, custom_properties: properties };
}
