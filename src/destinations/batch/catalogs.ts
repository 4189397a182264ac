import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../logger.js';
import { defineScript, type Redis, runScript } from '../../redis/connection.js';
import type { Keys } from '../../redis/keys.js';
import type { BatchClient, CatalogView } from './client.js';
import {
  BatchAlreadyExistsError,
  BatchCatalogError,
  BatchNotFoundError,
  BatchValidationError,
} from './errors.js';
import { ITEM_RULES } from './items.js';
import type { FieldSpec } from './types.js';

/** Documented limits of the Batch Catalog API. */
export const CATALOG_LIMITS = { maxFields: 25, maxCatalogs: 5, maxItems: 2_000_000 } as const;

const LOCK_TTL_MS = 30_000;
const LOCK_POLL_MS = 100;
const LOCK_WAIT_MS = 60_000;
const here = new URL('.', import.meta.url);

export interface EnsuredCatalog {
  /** Items the catalog held when last viewed. */
  items: number | undefined;
}

/**
 * Makes sure a catalog exists with (at least) the fields of a mapping: view; create on 404; `update` to
 * add missing fields. Instances serialise creation through a Redis lock, and a 409 or an
 * "already exists" still counts as success, so racing processes end with one catalog and no error.
 * Results are cached per process for `refreshMs`, so the item count is re-read from time to time.
 */
export class CatalogEnsurer {
  private readonly cache = new Map<string, { at: number; result: Promise<EnsuredCatalog> }>();
  private readonly unlock: string;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly logger: Logger,
    private readonly refreshMs = 60_000,
  ) {
    this.unlock = defineScript(redis, here, 'unlock-1.lua');
  }

  ensure(
    client: BatchClient,
    account: string,
    catalog: string,
    fields: FieldSpec[],
  ): Promise<EnsuredCatalog> {
    const key = `${account}\0${catalog}\0${signature(fields)}`;
    const cached = this.cache.get(key);
    if (cached && performance.now() - cached.at < this.refreshMs) return cached.result;
    const result = this.run(client, account, catalog, fields);
    this.cache.set(key, { at: performance.now(), result });
    result.catch(() => this.cache.delete(key));
    return result;
  }

  /** Forgets what this process knows of a catalog (it was deleted behind our back, say). */
  forget(account: string, catalog: string): void {
    const prefix = `${account}\0${catalog}\0`;
    for (const key of this.cache.keys()) if (key.startsWith(prefix)) this.cache.delete(key);
  }

  private async run(
    client: BatchClient,
    account: string,
    catalog: string,
    fields: FieldSpec[],
  ): Promise<EnsuredCatalog> {
    checkFields(catalog, fields);
    const seen = await view(client, catalog);
    if (seen && missingFields(catalog, seen, fields).length === 0) return { items: seen.items };
    return this.locked(account, catalog, async () => {
      let current = await view(client, catalog);
      if (!current) {
        await create(client, catalog, fields);
        this.logger.info({ catalog, fields: fields.length }, 'created Batch catalog');
        current = await view(client, catalog);
        if (!current)
          throw new BatchNotFoundError(`catalog "${catalog}" is still missing after its creation`);
      }
      const missing = missingFields(catalog, current, fields);
      if (missing.length > 0) {
        if (current.fields.length + missing.length > CATALOG_LIMITS.maxFields) {
          throw new BatchCatalogError(
            'BATCH_FIELD_LIMIT',
            `catalog "${catalog}" has ${current.fields.length} fields; adding ${missing.map((f) => f.name).join(', ')} would pass the limit of ${CATALOG_LIMITS.maxFields}`,
          );
        }
        await addFields(client, catalog, missing);
        this.logger.info({ catalog, added: missing.map((f) => f.name) }, 'added fields to Batch catalog');
      }
      return { items: current.items };
    });
  }

  private async locked<T>(account: string, catalog: string, fn: () => Promise<T>): Promise<T> {
    const key = this.keys.catalogLock(account, catalog);
    const token = randomUUID();
    const deadline = performance.now() + LOCK_WAIT_MS;
    let held = false;
    while (!held && performance.now() < deadline) {
      held = (await this.redis.set(key, token, 'PX', LOCK_TTL_MS, 'NX')) === 'OK';
      if (!held) await sleep(LOCK_POLL_MS);
    }
    // Without the lock (a holder died mid-way) we go on: 409s and re-views make the work idempotent.
    if (!held) this.logger.warn({ catalog }, 'catalog lock not obtained in time; ensuring without it');
    try {
      return await fn();
    } finally {
      if (held) await runScript<number>(this.redis, this.unlock, [key], [token]);
    }
  }
}

function signature(fields: FieldSpec[]): string {
  return fields
    .map((f) => `${f.name}:${f.type}`)
    .sort()
    .join(',');
}

function checkFields(catalog: string, fields: FieldSpec[]): void {
  if (fields.length > CATALOG_LIMITS.maxFields) {
    throw new BatchCatalogError(
      'BATCH_FIELD_LIMIT',
      `catalog "${catalog}": ${fields.length} fields mapped, a catalog holds at most ${CATALOG_LIMITS.maxFields}`,
    );
  }
  const names = new Set<string>();
  for (const f of fields) {
    if (!ITEM_RULES.keyName.test(f.name) || names.has(f.name)) {
      throw new BatchCatalogError(
        'BATCH_FIELD_CONFLICT',
        `catalog "${catalog}": field "${f.name}" is ${names.has(f.name) ? 'mapped twice' : 'not a valid name ([a-z0-9_], at most 30 characters)'}`,
      );
    }
    names.add(f.name);
  }
}

function missingFields(catalog: string, current: CatalogView, wanted: FieldSpec[]): FieldSpec[] {
  const have = new Map(current.fields.map((f) => [f.name, f.type]));
  const missing: FieldSpec[] = [];
  for (const f of wanted) {
    const type = have.get(f.name);
    if (type === undefined) missing.push(f);
    else if (type !== f.type) {
      throw new BatchCatalogError(
        'BATCH_FIELD_CONFLICT',
        `catalog "${catalog}": field "${f.name}" is ${type} in Batch but mapped as ${f.type}`,
      );
    }
  }
  return missing;
}

async function view(client: BatchClient, catalog: string): Promise<CatalogView | undefined> {
  try {
    return await client.viewCatalog(catalog);
  } catch (err) {
    if (err instanceof BatchNotFoundError) return undefined;
    throw err;
  }
}

async function create(client: BatchClient, catalog: string, fields: FieldSpec[]): Promise<void> {
  const existing = await client.listCatalogs();
  if (existing.includes(catalog)) return;
  if (existing.length >= CATALOG_LIMITS.maxCatalogs) {
    throw new BatchCatalogError(
      'BATCH_CATALOG_LIMIT',
      `cannot create catalog "${catalog}": the project already has ${existing.length} catalogs, the limit is ${CATALOG_LIMITS.maxCatalogs}`,
    );
  }
  try {
    await client.createCatalog(catalog, fields);
  } catch (err) {
    // Another instance won the race, or our earlier attempt's reply was lost.
    if (!(err instanceof BatchAlreadyExistsError)) throw err;
  }
}

async function addFields(client: BatchClient, catalog: string, missing: FieldSpec[]): Promise<void> {
  try {
    await client.updateCatalog(
      catalog,
      missing.map((f) => ({ ...f, action: 'add' as const })),
    );
  } catch (err) {
    // A 400 "already exists" after a race without the lock: fine if the fields are there now.
    if (!(err instanceof BatchValidationError)) throw err;
    const now = await view(client, catalog);
    if (!now || missingFields(catalog, now, missing).length > 0) throw err;
  }
}
