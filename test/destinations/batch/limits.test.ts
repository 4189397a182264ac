import { describe, expect, it } from 'vitest';
import { accountOf, BATCH_LIMITS, batchLimits } from '../../../src/destinations/batch/index.js';

describe('batchLimits', () => {
  it('defaults to Batch limits with headroom and bursts below Batch bucket', () => {
    expect(batchLimits()).toEqual(BATCH_LIMITS);
    expect(BATCH_LIMITS.itemBurst).toBeLessThan(BATCH_LIMITS.itemsPerSecond);
    expect(BATCH_LIMITS.requestBurst).toBeLessThan(BATCH_LIMITS.requestsPerSecond);
  });

  it('keeps a default where a caller passes undefined', () => {
    expect(batchLimits({ headroom: undefined, itemsPerSecond: undefined })).toEqual(BATCH_LIMITS);
  });

  it('scales the bursts with configured rates, never below one full request', () => {
    expect(batchLimits({ requestsPerSecond: 20, itemsPerSecond: 4000 })).toMatchObject({
      requestBurst: 8,
      itemBurst: 1600,
    });
    expect(batchLimits({ requestsPerSecond: 1, itemsPerSecond: 300 })).toMatchObject({
      requestBurst: 1,
      itemBurst: 200,
    });
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
