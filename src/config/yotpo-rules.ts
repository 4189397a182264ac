/**
 * Yotpo's rules for a sync, checked at load (the contacts API refuses what breaks them): operations,
 * mapped fields, custom property names and types.
 */
import type { z } from 'zod';
import { CUSTOMER_FIELDS, IDENTITY_FIELD } from '../destinations/yotpo/index.js';

interface SyncShape {
  operation: string;
  destination: { type: 'batch' } | { type: 'yotpo'; matchKey: keyof typeof IDENTITY_FIELD };
  fields: { attribute: string; type: string }[];
  customAttributes: (string | { name: string; type?: string | undefined })[];
}

export function checkYotpoSync(sync: SyncShape, ctx: z.RefinementCtx): void {
  if (sync.destination.type !== 'yotpo') return;
  if (sync.operation !== 'upsert') {
    ctx.addIssue({
      code: 'custom',
      path: ['operation'],
      message: `${sync.operation} is not available for Yotpo: catalog-sync never deletes Yotpo contacts; use upsert`,
    });
  }
  const identity = IDENTITY_FIELD[sync.destination.matchKey];
  const otherIdentity = { email: 'phone_number', phone_number: 'email', external_id: undefined }[identity];
  sync.fields.forEach((f, i) => {
    const kind = CUSTOMER_FIELDS[f.attribute];
    const issue = (message: string, leaf = 'attribute') =>
      ctx.addIssue({ code: 'custom', path: ['fields', i, leaf], message });
    if (!kind)
      issue(`${f.attribute} is not a Yotpo customer field (${Object.keys(CUSTOMER_FIELDS).join(', ')})`);
    else if (f.attribute === identity || f.attribute === 'external_id')
      issue(`${f.attribute} is the contact identity: it comes from idColumn, not from a mapped field`);
    else if (f.attribute === otherIdentity)
      issue(
        `Yotpo refuses ${identity} and ${f.attribute} together without an external_id; use matchKey external_id`,
      );
    else if ((kind === 'boolean') !== (f.type === 'bool'))
      issue(`Yotpo's ${f.attribute} is a ${kind === 'boolean' ? 'bool' : 'string'}`, 'type');
  });
  sync.customAttributes.forEach((c, i) => {
    const name = typeof c === 'string' ? c : c.name;
    const type = typeof c === 'string' ? undefined : c.type;
    if (CUSTOMER_FIELDS[name])
      ctx.addIssue({
        code: 'custom',
        path: ['customAttributes', i],
        message: `${name} is a standard Yotpo customer field; map it under fields`,
      });
    if (type === 'array')
      ctx.addIssue({
        code: 'custom',
        path: ['customAttributes', i, 'type'],
        message: 'Yotpo custom properties are primitives (string, boolean, number, ISO date), not arrays',
      });
  });
}
