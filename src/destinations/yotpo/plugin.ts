/** Yotpo contacts as a catalog-sync destination: the `yotpo:` section, a sync's target, the factory. */
import { type CountryCode, isSupportedCountry } from 'libphonenumber-js';
import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { type Secret, secretRef } from '../../secret.js';
import type { DestinationPlugin } from '../plugin.js';
import { DEFAULT_BASE_URL } from './client.js';
import { accountOf, YotpoDestination, yotpoLimits } from './destination.js';
import { checkYotpoSync } from './rules.js';
import { YOTPO_LABEL } from './status.js';

const section = z
  .object({
    baseUrl: z.string().url().default(DEFAULT_BASE_URL).describe('env YOTPO_API_URL'),
    defaultCountry: z
      .string()
      .refine((c) => isSupportedCountry(c), 'must be an ISO 3166-1 alpha-2 region, e.g. FR')
      .optional()
      .describe('region of phone numbers written without +<country code>; without it they are rejected'),
    stores: z.record(
      z.string(),
      z.object({ storeId: secretRef, token: secretRef }).strict().describe('a Yotpo store'),
    ),
    limits: z
      .object({
        requestsPerSecond: z
          .number()
          .positive()
          .default(10)
          .describe("store's API requests per second (upserts and look-ups); set it to your plan's limit"),
        concurrency: z.int().min(1).max(64).default(8).describe('requests in flight per sync and instance'),
        headroom: z
          .number()
          .gt(0)
          .max(1)
          .default(0.98)
          .describe('share of the rate the shared bucket runs at'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const target = z
  .object({
    type: z.literal('yotpo').describe("a Yotpo store's contacts"),
    store: z.string().min(1).describe('key of yotpo.stores this sync writes to'),
    matchKey: z
      .enum(['external_id', 'email', 'phone'])
      .describe('what the id column holds: the contact identity in Yotpo'),
    insertMode: z
      .boolean()
      .default(false)
      .describe('create contacts Yotpo does not know; off, they are skipped as NOT_FOUND'),
  })
  .strict();

export interface ResolvedYotpoStore {
  name: string;
  storeId: Secret;
  token: Secret;
}

export type YotpoSection = Omit<z.output<typeof section>, 'stores'> & {
  stores: Record<string, ResolvedYotpoStore>;
};

function storeOf(section: YotpoSection, name: string): ResolvedYotpoStore {
  const store = section.stores[name];
  if (!store) throw new ConfigError(`no Yotpo store ${name} under yotpo.stores`, 'yotpo.stores');
  return store;
}

export const yotpoPlugin: DestinationPlugin<'yotpo', typeof section, typeof target, YotpoSection> = {
  type: 'yotpo',
  section,
  target,
  env: { YOTPO_API_URL: ['baseUrl'] },
  check(sync, parsed, issue) {
    checkYotpoSync(sync, issue);
    if (!parsed?.stores[sync.destination.store])
      issue(['destination', 'store'], `store ${sync.destination.store} is not defined under yotpo.stores`);
  },
  resolve(parsed, secret) {
    const stores = Object.fromEntries(
      Object.entries(parsed.stores).map(([name, s]) => [
        name,
        {
          name,
          storeId: secret(s.storeId, `yotpo.stores.${name}.storeId`),
          token: secret(s.token, `yotpo.stores.${name}.token`),
        },
      ]),
    );
    return { ...parsed, stores };
  },
  label: () => YOTPO_LABEL,
  baseUrl: (s) => s.baseUrl,
  create(context, s, sync) {
    const store = storeOf(s, sync.target.store);
    return new YotpoDestination({
      redis: context.redis,
      keys: context.keys,
      logger: context.logger,
      store: { baseUrl: s.baseUrl, storeId: store.storeId.reveal(), token: store.token.reveal() },
      matchKey: sync.target.matchKey,
      insertMode: sync.target.insertMode,
      attributes: sync.attributes.map((a) => a.attribute),
      custom: sync.custom,
      ...(s.defaultCountry ? { defaultCountry: s.defaultCountry as CountryCode } : {}),
      limits: s.limits,
      onEvent: (e) => context.onEvent(e),
      onTokenWait: (ms) => context.onTokenWait(ms),
    });
  },
  account(s, t) {
    const store = storeOf(s, t.store);
    return {
      // accountOf reads the store id only; the token is never needed to name the bucket.
      name: () => accountOf({ baseUrl: s.baseUrl, storeId: store.storeId.reveal(), token: '' }),
      // As YotpoDestination builds its limiter: the inspected capacity must be the one in use.
      limits: yotpoLimits(s.limits),
    };
  },
};
