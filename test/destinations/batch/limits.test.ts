import { describe, expect, it } from 'vitest';
import { accountOf, BATCH_LIMITS, batchLimits } from '../../../src/destinations/batch/index.js';
import { boundMs } from '../../../src/ratelimit/index.js';

describe('batchLimits', () => {
  it('derives the bursts from the send bound and keeps Batch rates', () => {
    expect(boundMs()).toBe(500);
    expect(BATCH_LIMITS).toEqual({
      requestsPerSecond: 5,
      requestBurst: 2,
      itemsPerSecond: 1000,
      itemBurst: 500,
      headroom: 1,
    });
    expect(batchLimits()).toEqual(BATCH_LIMITS);
  });

  it('keeps a default where a caller passes undefined', () => {
    expect(batchLimits({ headroom: undefined, itemsPerSecond: undefined })).toEqual(BATCH_LIMITS);
  });

  it('leaves B worth of Batch rates out of the bursts, whatever the rates and B', () => {
    expect(batchLimits({ requestsPerSecond: 20, itemsPerSecond: 4000 })).toMatchObject({
      requestsPerSecond: 20,
      requestBurst: 10,
      itemsPerSecond: 4000,
      itemBurst: 2000,
    });
    expect(batchLimits({}, 200)).toMatchObject({ requestBurst: 4, itemBurst: 800 });
    expect(batchLimits({}, 0)).toMatchObject({ requestBurst: 5, itemBurst: 1000 });
  });

  it('never goes below one full request: a bucket too small for that refills slower instead', () => {
    const small = batchLimits({ requestsPerSecond: 1, itemsPerSecond: 300 });
    expect(small).toMatchObject({ requestBurst: 1, itemBurst: 200 });
    expect(small.itemsPerSecond).toBeLessThan(300);
    expect(small.requestsPerSecond).toBeLessThan(1);
    expect(batchLimits({ itemBurst: 50, headroom: 0.9 })).toMatchObject({ itemBurst: 50, headroom: 0.9 });
  });
});

describe('accountOf', () => {
  it('is the same for every instance and never shows the project key', () => {
    const project = { projectKey: 'project_secret_123', restApiKey: 'k', baseUrl: 'http://x' };
    expect(accountOf(project)).toBe(accountOf({ ...project, restApiKey: 'other' }));
    expect(accountOf(project)).not.toContain('project_secret_123');
    expect(accountOf(project)).not.toBe(accountOf({ ...project, projectKey: 'project_other' }));
  });
});
