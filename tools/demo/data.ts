/**
 * The demo's generated warehouse exports: products (Full then Delta / Mirror) and offers (Full Only /
 * Upsert), and what the catalogs must hold once every run is applied. Deterministic, so a failed check
 * can be reproduced.
 */
import type { Row } from '../../src/runtime/produce.js';

const ADJECTIVES = [
  'Trail',
  'City',
  'Rain',
  'Summit',
  'Coastal',
  'Urban',
  'Alpine',
  'Desert',
  'Night',
  'Swift',
];
const NOUNS = [
  'Runner',
  'Sneaker',
  'Jacket',
  'Backpack',
  'Beanie',
  'Parka',
  'Sandal',
  'Glove',
  'Vest',
  'Boot',
];
const TAGS = ['new', 'sale', 'bestseller', 'eco', 'limited', 'outlet'];
const COLORS = ['red', 'blue', 'green', 'black', 'white', 'orange'];
const DAY_MS = 86_400_000;
const EPOCH = Date.UTC(2025, 0, 1);

export const productId = (i: number) => `P${String(i).padStart(6, '0')}`;
export const offerId = (i: number) => `O${String(i).padStart(6, '0')}`;

export interface Scenario {
  products: number;
  offers: number;
  /** Rows whose url breaks Batch's rule (no scheme): rejected in every full run, never in the catalog. */
  bad: Set<number>;
  /** Changed by the delta run. */
  changed: Set<number>;
  /** Deleted upstream in the delta run (Mirror removes them). */
  deleted: Set<number>;
  /** Absent from the last full run (Mirror derives their deletion). */
  missing: Set<number>;
}

/** ≈5% changed and ≈1% deleted by the delta, ≈2% missing from the last full run, 3 bad rows. */
export function scenario(products: number, offers: number): Scenario {
  const bad = new Set([Math.ceil(products / 4), Math.ceil(products / 2), Math.ceil((3 * products) / 4)]);
  const changed = new Set<number>();
  const deleted = new Set<number>();
  const missing = new Set<number>();
  for (let i = 1; i <= products; i++) {
    if (bad.has(i)) continue;
    if (i % 100 === 50) deleted.add(i);
    else if (i % 50 === 7) missing.add(i);
    else if (i % 20 === 10) changed.add(i);
  }
  return { products, offers, bad, changed, deleted, missing };
}

export function product(i: number, s: Scenario, version = 0): Row {
  const tagCount = 1 + (i % 3);
  return {
    sku: productId(i),
    name: `${ADJECTIVES[i % ADJECTIVES.length]} ${NOUNS[Math.floor(i / 10) % NOUNS.length]} ${i}`,
    price: Math.round((9.9 + ((i * 37) % 20_000) / 100) * (1 - 0.1 * version) * 100) / 100,
    stock: (i * 13) % 250,
    in_stock: i % 7 !== 0,
    launched_at: new Date(EPOCH + (i % 365) * DAY_MS).toISOString(),
    url: `${s.bad.has(i) ? '' : 'https://'}shop.example.com/p/${productId(i).toLowerCase()}`,
    tags: Array.from({ length: tagCount }, (_, k) => TAGS[(i + k) % TAGS.length]!),
    color: COLORS[i % COLORS.length]!,
  };
}

export function offer(i: number, products: number): Row {
  return {
    offer_id: offerId(i),
    title: `${(i % 4) * 5 + 10}% off ${NOUNS[i % NOUNS.length]}`,
    discount: ((i % 4) * 5 + 10) / 100,
    sku: productId(1 + ((i * 7) % products)),
    ends_at: new Date(EPOCH + (30 + (i % 60)) * DAY_MS).toISOString(),
    active: i % 9 !== 0,
  };
}

export function* firstFull(s: Scenario): Iterable<Row> {
  for (let i = 1; i <= s.products; i++) yield product(i, s);
}

export function* deltaRows(s: Scenario): Iterable<Row> {
  for (const i of s.changed) yield product(i, s, 1);
}

export const deltaDeletions = (s: Scenario) => [...s.deleted].map(productId);

/** The last full run: every product still upstream, as the delta left it, minus the missing ones. */
export function* lastFull(s: Scenario): Iterable<Row> {
  for (let i = 1; i <= s.products; i++) {
    if (s.deleted.has(i) || s.missing.has(i)) continue;
    yield product(i, s, s.changed.has(i) ? 1 : 0);
  }
}

export function* offersFull(s: Scenario): Iterable<Row> {
  for (let i = 1; i <= s.offers; i++) yield offer(i, s.products);
}

/** Ids the products catalog must hold after the three runs. */
export function expectedProducts(s: Scenario): Set<string> {
  const ids = new Set<string>();
  for (let i = 1; i <= s.products; i++) {
    if (!s.bad.has(i) && !s.deleted.has(i) && !s.missing.has(i)) ids.add(productId(i));
  }
  return ids;
}

export function expectedOffers(s: Scenario): Set<string> {
  return new Set(Array.from({ length: s.offers }, (_, k) => offerId(k + 1)));
}
