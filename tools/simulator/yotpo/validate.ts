import type { IdentityKey, Primitive, SimCustomer } from './store.js';

/** Yotpo's customer fields the simulator accepts besides identity and custom properties. */
const STRING_FIELDS = new Set([
  'first_name',
  'last_name',
  'gender',
  'account_created_at',
  'account_status',
  'default_language',
  'default_currency',
  'tags',
]);
const BOOLEAN_FIELDS = new Set(['accepts_email_marketing', 'accepts_sms_marketing']);

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const E164 = /^\+[1-9]\d{6,14}$/;
const PROPERTY_NAME = /^[A-Za-z0-9_]{1,100}$/;

export type Checked =
  | { ok: true; key: IdentityKey; customer: SimCustomer }
  | { ok: false; field: string; message: string };

const fail = (field: string, message: string): Checked => ({ ok: false, field, message });

/** The identity rules and field types of `POST .../customers` (spec: yotpo-contacts-api.md). */
export function checkCustomer(body: Record<string, unknown>): Checked {
  const customer = body.customer;
  if (typeof customer !== 'object' || customer === null || Array.isArray(customer))
    return fail('customer', 'customer must be an object');
  const c = customer as Record<string, unknown>;
  for (const k of ['external_id', 'email', 'phone_number'] as const) {
    if (k in c && (typeof c[k] !== 'string' || c[k] === ''))
      return fail(k, `${k} must be a non-empty string`);
  }
  if (typeof c.email === 'string' && !EMAIL.test(c.email))
    return fail('email', 'email is not a valid address');
  if (typeof c.phone_number === 'string' && !E164.test(c.phone_number))
    return fail('phone_number', 'phone_number must be in E.164 format');
  let key: IdentityKey;
  if (typeof c.external_id === 'string') key = 'external_id';
  else if (typeof c.email === 'string' && typeof c.phone_number === 'string')
    return fail(
      'customer',
      'without external_id, exactly one of email or phone_number identifies a customer',
    );
  else if (typeof c.email === 'string') key = 'email';
  else if (typeof c.phone_number === 'string') key = 'phone_number';
  else return fail('customer', 'one of external_id, email or phone_number is required');

  for (const [name, value] of Object.entries(c)) {
    if (name === 'external_id' || name === 'email' || name === 'phone_number' || name === 'custom_properties')
      continue;
    if (STRING_FIELDS.has(name)) {
      if (typeof value !== 'string') return fail(name, `${name} must be a string`);
    } else if (BOOLEAN_FIELDS.has(name)) {
      if (typeof value !== 'boolean') return fail(name, `${name} must be a boolean`);
    } else return fail(name, `unknown customer field ${name}`);
  }
  if ('custom_properties' in c) {
    const problem = checkProperties(c.custom_properties);
    if (problem) return fail(`custom_properties${problem.name ? `.${problem.name}` : ''}`, problem.message);
  }
  return { ok: true, key, customer: c as SimCustomer };
}

function checkProperties(props: unknown): { name?: string; message: string } | undefined {
  if (typeof props !== 'object' || props === null || Array.isArray(props))
    return { message: 'custom_properties must be an object' };
  for (const [name, value] of Object.entries(props as Record<string, unknown>)) {
    if (!PROPERTY_NAME.test(name))
      return { name, message: 'property names use letters, digits and underscores, no spaces' };
    if (value === null) return { name, message: 'null is not supported' };
    if (!isPrimitive(value)) return { name, message: 'must be a string, boolean, number or ISO date' };
  }
  return undefined;
}

function isPrimitive(value: unknown): value is Primitive {
  if (typeof value === 'string' || typeof value === 'boolean') return true;
  return typeof value === 'number' && Number.isFinite(value);
}
