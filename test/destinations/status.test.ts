import { describe, expect, it } from 'vitest';
import { destinationStatusEvent } from '../../src/destinations/status.js';

describe('destinationStatusEvent', () => {
  it('maps every Batch destination event to its status event', () => {
    expect(
      destinationStatusEvent('s', 'batch:c', {
        type: 'request_accepted',
        itemIds: ['a'],
        indexingToken: 't',
        attempt: 2,
      }),
    ).toEqual({
      syncId: 's',
      destination: 'batch:c',
      type: 'REQUEST_ACCEPTED',
      itemIds: ['a'],
      indexingToken: 't',
      attempt: 2,
    });
    expect(
      destinationStatusEvent('s', 'batch:c', {
        type: 'request_retried',
        itemIds: ['a'],
        attempt: 1,
        status: 429,
        code: 'BATCH_RATE_LIMITED',
        delayMs: 1000,
      }),
    ).toMatchObject({
      type: 'REQUEST_RETRIED',
      attempt: 1,
      errorCode: 'BATCH_RATE_LIMITED',
      message: 'HTTP 429, retrying in 1000 ms',
    });
    expect(
      destinationStatusEvent('s', 'batch:c', {
        type: 'request_rejected',
        itemIds: ['a', 'b'],
        code: 'X',
        message: 'm',
      }),
    ).toMatchObject({ type: 'REQUEST_REJECTED', itemIds: ['a', 'b'], errorCode: 'X', message: 'm' });
    expect(
      destinationStatusEvent('s', 'batch:c', { type: 'item_rejected', id: 'a', code: 'X', reason: 'r' }),
    ).toMatchObject({
      type: 'ITEM_REJECTED',
      itemIds: ['a'],
      message: 'r',
    });
    expect(
      destinationStatusEvent('s', 'batch:c', {
        type: 'indexing_applied',
        indexingToken: 't',
        itemIds: ['a'],
      }),
    ).toMatchObject({ type: 'INDEXING_APPLIED', indexingToken: 't', itemIds: ['a'] });
  });

  it('labels Yotpo events and names the null values it could not send', () => {
    expect(
      destinationStatusEvent('s', 'yotpo:contacts', {
        type: 'request_accepted',
        itemIds: ['c1'],
        attempt: 1,
        omitted: ['city'],
      }),
    ).toEqual({
      syncId: 's',
      destination: 'yotpo:contacts',
      type: 'REQUEST_ACCEPTED',
      itemIds: ['c1'],
      attempt: 1,
      message: 'null values not sent (Yotpo cannot store null): city',
    });
    expect(
      destinationStatusEvent('s', 'yotpo:contacts', {
        type: 'item_rejected',
        id: 'c2',
        code: 'YOTPO_INVALID_EMAIL',
        reason: 'bad',
      }),
    ).toMatchObject({
      destination: 'yotpo:contacts',
      type: 'ITEM_REJECTED',
      itemIds: ['c2'],
      errorCode: 'YOTPO_INVALID_EMAIL',
    });
  });
});
