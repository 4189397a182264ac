/**
 * Yotpo's rules for a sync, checked at load (the contacts API refuses what breaks them): operations,
 * mapped fields, custom property names and types.
 */
import type { IssueReporter, SyncShape } from '../plugin.js';
import { CUSTOMER_FIELDS } from './contact.js';
import { IDENTITY_FIELD, type MatchKey } from './types.js';

export function checkYotpoSync(sync: SyncShape<{ matchKey: MatchKey }>, issue: IssueReporter): void {
  if (sync.operation !== 'upsert') {
    issue(
      ['operation'],
      `${sync.operation} is not available for Yotpo: catalog-sync never deletes Yotpo contacts; use upsert`,
    );
  }
  const identity = IDENTITY_FIELD[sync.destination.matchKey];
  const otherIdentity = { email: 'phone_number', phone_number: 'email', external_id: undefined }[identity];
  sync.fields.forEach((f, i) => {
    const kind = CUSTOMER_FIELDS[f.attribute];
    const field = (message: string, leaf = 'attribute') => issue(['fields', i, leaf], message);
    if (!kind)
      field(`${f.attribute} is not a Yotpo customer field (${Object.keys(CUSTOMER_FIELDS).join(', ')})`);
    else if (f.attribute === identity || f.attribute === 'external_id')
      field(`${f.attribute} is the contact identity: it comes from idColumn, not from a mapped field`);
    else if (f.attribute === otherIdentity)
      field(
        `Yotpo refuses ${identity} and ${f.attribute} together without an external_id; use matchKey external_id`,
      );
    else if ((kind === 'boolean') !== (f.type === 'bool'))
      field(`Yotpo's ${f.attribute} is a ${kind === 'boolean' ? 'bool' : 'string'}`, 'type');
  });
  sync.customAttributes.forEach((c, i) => {
    const name = typeof c === 'string' ? c : c.name;
    const type = typeof c === 'string' ? undefined : c.type;
    if (CUSTOMER_FIELDS[name])
      issue(['customAttributes', i], `${name} is a standard Yotpo customer field; map it under fields`);
    if (type === 'array')
      issue(
        ['customAttributes', i, 'type'],
        'Yotpo custom properties are primitives (string, boolean, number, ISO date), not arrays',
      );
  });
}
