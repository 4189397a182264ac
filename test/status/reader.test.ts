import { describe, expect, it } from 'vitest';
import { formatStatusLine, type StatusEventDecoded } from '../../src/status/reader.js';

const base: StatusEventDecoded = {
  syncId: 'products',
  runId: 'full-1',
  type: 'REQUEST_ACCEPTED',
  at: Date.UTC(2026, 0, 5, 10, 0, 0),
  instance: 'host-1',
  destination: 'batch:products',
  itemIds: ['SKU-1', 'SKU-2', 'SKU-3', 'SKU-4'],
  indexingToken: 'tok-9',
  attempt: null,
  errorCode: null,
  message: null,
  counts: null,
  partition: 0,
  offset: '7',
};

describe('formatStatusLine', () => {
  it('prints the time, sync, type and what matters for the type on one line', () => {
    const line = formatStatusLine(base);
    expect(line).toMatch(/^2026-01-05T10:00:00\.000Z products REQUEST_ACCEPTED +run=full-1 /);
    expect(line).toContain('dest=batch:products');
    expect(line).toContain('token=tok-9');
    expect(line).toContain('items=4[SKU-1,SKU-2,SKU-3,…]');
    expect(line).toMatch(/\(host-1\)$/);
    expect(line).not.toContain('attempt=');
  });

  it('shows counts, errors and attempts, and keeps a multi-line message on one line', () => {
    const line = formatStatusLine({
      ...base,
      type: 'RUN_COMPLETED',
      itemIds: [],
      indexingToken: null,
      attempt: 3,
      errorCode: 'HTTP_503',
      message: 'first\nsecond',
      counts: { upserted: 10, removed: 2, rejected: 1, skipped: 4, held: 0 },
    });
    expect(line).toContain('upserted=10 removed=2 rejected=1 skipped=4 held=0');
    expect(line).toContain('attempt=3 error=HTTP_503');
    expect(line).toContain('"first\\nsecond"');
    expect(line).not.toContain('\n');
    expect(line).not.toContain('items=');
  });
});
