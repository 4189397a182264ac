import { z } from 'zod';
import { FIELD_NAME, FIELD_TYPES, type FieldType, MAX_ITEM_ID_LENGTH } from './attributes.js';
import { BatchApiError } from './errors.js';

export const MAX_ITEMS_PER_EDIT = 200;
/** Our choice: Batch documents no rule for catalog names. */
const CATALOG_NAME = /^[A-Za-z0-9_-]{1,64}$/;

const catalogName = z
  .string()
  .regex(CATALOG_NAME, 'catalog names use A-Z, a-z, 0-9, _ and -, 1 to 64 characters');
const fieldName = z
  .string()
  .regex(FIELD_NAME, 'field names use only a-z, 0-9 and _ (no uppercase), 1 to 30 characters');
const fieldType = z.enum(FIELD_TYPES);

function uniqueNames(fields: { name: string }[], ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  for (const [i, f] of fields.entries()) {
    if (seen.has(f.name))
      ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `field "${f.name}" is listed twice` });
    seen.add(f.name);
  }
}

const createBody = z.strictObject({
  name: catalogName,
  fields: z.array(z.strictObject({ name: fieldName, type: fieldType })).superRefine(uniqueNames),
});

const updateBody = z.strictObject({
  name: catalogName,
  fields: z
    .array(z.strictObject({ name: fieldName, type: fieldType, action: z.enum(['add', 'remove']) }))
    .min(1, 'list at least one field to add or remove')
    .superRefine(uniqueNames),
});

const editBody = z.strictObject({
  name: catalogName,
  items: z
    .array(z.unknown())
    .min(1, 'send at least one item')
    .max(MAX_ITEMS_PER_EDIT, `at most ${MAX_ITEMS_PER_EDIT} items per request`),
});

const editItem = z.strictObject({
  id: z
    .string()
    .min(1, 'item ids cannot be empty')
    .max(MAX_ITEM_ID_LENGTH, `item ids hold at most ${MAX_ITEM_ID_LENGTH} characters`),
  action: z.enum(['add', 'remove']),
  attributes: z.unknown().optional(),
});

export type CreateRequest = { name: string; fields: { name: string; type: FieldType }[] };
export type UpdateRequest = {
  name: string;
  fields: { name: string; type: FieldType; action: 'add' | 'remove' }[];
};
export type EditItem = { id: string; action: 'add' | 'remove'; attributes?: unknown };
export type EditRequest = { name: string; items: EditItem[] };

function parse<T>(schema: z.ZodType<T>, body: unknown, where = ''): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = formatPath(issue.path);
  const missing = issue.code === 'invalid_type' && issue.message.endsWith('received undefined');
  throw new BatchApiError(
    missing ? 'MISSING_PARAMETER' : 'INVALID_PARAMETER',
    `${where}${path ? `${path}: ` : ''}${missing ? 'required' : issue.message}`,
  );
}

function formatPath(path: PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

export const parseCreate = (body: unknown): CreateRequest => parse(createBody, body);
export const parseUpdate = (body: unknown): UpdateRequest => parse(updateBody, body);

/** Item shape errors name the item, like attribute errors do, so a client can isolate it. */
export function parseEdit(body: unknown): EditRequest {
  const { name, items } = parse(editBody, body);
  const ids = new Set<string>();
  const parsed = items.map((raw, i) => {
    const rawId = (raw as { id?: unknown } | null)?.id;
    const label = `items[${i}]${typeof rawId === 'string' ? ` (id "${rawId}")` : ''}: `;
    const item = parse(editItem, raw, label);
    if (item.action === 'remove' && 'attributes' in (raw as object)) {
      throw new BatchApiError('INVALID_ITEM', `${label}a remove takes no "attributes"`);
    }
    // Our choice: one request names an item once; the client coalesces its edits before sending.
    if (ids.has(item.id)) throw new BatchApiError('INVALID_ITEM', `${label}id "${item.id}" appears twice`);
    ids.add(item.id);
    return item;
  });
  return { name, items: parsed };
}
