import { type CountryCode, parsePhoneNumberFromString } from 'libphonenumber-js';
import { encodeProperty, type PropertyValue, withProperties } from './custom-properties.js';
import { IDENTITY_FIELD, type MatchKey } from './types.js';

/** Standard Yotpo customer fields a sync may map, with the type Yotpo takes. */
export const CUSTOMER_FIELDS: Readonly<Record<string, 'string' | 'boolean' | 'email' | 'phone'>> = {
  external_id: 'string',
  email: 'email',
  phone_number: 'phone',
  first_name: 'string',
  last_name: 'string',
  gender: 'string',
  account_created_at: 'string',
  account_status: 'string',
  default_language: 'string',
  default_currency: 'string',
  tags: 'string',
  accepts_email_marketing: 'boolean',
  accepts_sms_marketing: 'boolean',
};

type Kind = 'string' | 'boolean' | 'email' | 'phone';
const IDENTITY_KIND: Record<MatchKey, Kind> = { external_id: 'string', email: 'email', phone: 'phone' };
const INVALID_CODE: Record<Kind, string> = {
  string: 'YOTPO_INVALID_VALUE',
  boolean: 'YOTPO_INVALID_VALUE',
  email: 'YOTPO_INVALID_EMAIL',
  phone: 'YOTPO_INVALID_PHONE',
};

const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)+$/;

export interface ContactRules {
  matchKey: MatchKey;
  /** Region assumed for phone numbers written without a country code. */
  defaultCountry?: CountryCode;
  /** Attributes exported as custom properties; every other attribute is a standard field. */
  custom: ReadonlySet<string>;
}

export type Encoded =
  | {
      ok: true;
      /** The identity value as Yotpo stores it (normalised email or E.164 phone). */
      identity: string;
      customer: Record<string, unknown>;
      /** Attributes beyond the identity in the body. */
      sent: number;
      /** Attributes left out because their value is null, which Yotpo cannot store. */
      omitted: string[];
    }
  | { ok: false; code: string; reason: string };

const invalid = (code: string, reason: string): Encoded => ({ ok: false, code, reason });

/**
 * The body of one customer upsert: the identity under the match key plus the attributes in `only`.
 * A record Yotpo would refuse is refused here, with the reason, before any request. Null values: Yotpo
 * can neither store nor clear with null, so a null attribute is left out and named in `omitted` (the
 * REQUEST_ACCEPTED status event carries the note; not an error); a record whose every attribute is
 * null has nothing Yotpo can take and is refused (YOTPO_NULL_ONLY).
 */
export function encodeContact(
  rules: ContactRules,
  id: string,
  values: Record<string, unknown>,
  only: ReadonlySet<string>,
): Encoded {
  const identityField = IDENTITY_FIELD[rules.matchKey];
  const identity = normalise(IDENTITY_KIND[rules.matchKey], id, rules);
  if (!identity.ok) return invalid('YOTPO_INVALID_IDENTITY', `${rules.matchKey} ${identity.reason}`);
  if (identity.value === '') return invalid('YOTPO_INVALID_IDENTITY', `${rules.matchKey} is empty`);

  const customer: Record<string, unknown> = { [identityField]: identity.value };
  const properties: Record<string, PropertyValue> = {};
  const omitted: string[] = [];
  let sent = 0;
  const present = Object.entries(values).filter(([, v]) => v !== undefined);
  if (present.length > 0 && present.every(([, v]) => v === null))
    return invalid('YOTPO_NULL_ONLY', 'every attribute is null; Yotpo cannot store null values');

  for (const [name, value] of present) {
    if (!only.has(name) || name === identityField) continue;
    if (value === null) {
      omitted.push(name);
      continue;
    }
    if (rules.custom.has(name)) {
      const p = encodeProperty(name, value);
      if (!p.ok) return invalid('YOTPO_INVALID_PROPERTY', p.reason);
      properties[name] = p.value;
    } else {
      const kind = CUSTOMER_FIELDS[name];
      if (!kind) return invalid('YOTPO_UNKNOWN_FIELD', `${name} is not a Yotpo customer field`);
      const v = normalise(kind, value, rules);
      if (!v.ok) return invalid(INVALID_CODE[kind], `${name} ${v.reason}`);
      customer[name] = v.value;
    }
    sent++;
  }
  return {
    ok: true,
    identity: identity.value as string,
    customer: withProperties(customer, properties),
    sent,
    omitted,
  };
}

function normalise(
  kind: Kind,
  value: unknown,
  rules: ContactRules,
): { ok: true; value: string | boolean } | { ok: false; reason: string } {
  if (kind === 'boolean') {
    return typeof value === 'boolean'
      ? { ok: true, value }
      : { ok: false, reason: `must be true or false, got ${JSON.stringify(value)}` };
  }
  if (typeof value !== 'string' && typeof value !== 'number') {
    return { ok: false, reason: `must be a string, got ${Array.isArray(value) ? 'an array' : typeof value}` };
  }
  const text = String(value).trim();
  if (kind === 'email') {
    return EMAIL.test(text)
      ? { ok: true, value: text.toLowerCase() }
      : { ok: false, reason: `${JSON.stringify(text)} is not a valid email address` };
  }
  if (kind === 'phone') {
    const phone = parsePhoneNumberFromString(text, rules.defaultCountry);
    return phone?.isValid()
      ? { ok: true, value: phone.number }
      : {
          ok: false,
          reason: `${JSON.stringify(text)} is not a valid phone number${rules.defaultCountry ? ` (default region ${rules.defaultCountry})` : ' (no default region: use +<country code>)'}`,
        };
  }
  return { ok: true, value: text };
}
