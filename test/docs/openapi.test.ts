import { describe, expect, it } from 'vitest';
import { openApi } from '../helpers/openapi.js';

describe('docs/openapi.yaml', () => {
  it('is valid OpenAPI 3.1, and its schemas refuse bodies that break them', async () => {
    const oa = await openApi();
    expect(oa.version).toBe('3.1.0');
    oa.check('GET', '/api/syncs/{sync}', 404, { error: 'no sync "x"', code: 'UNKNOWN_SYNC' });
    expect(() => oa.check('GET', '/api/syncs/{sync}', 404, { error: 'x' })).toThrow(/code/);
    expect(() => oa.check('GET', '/api/syncs', 200, { syncs: [{ syncId: 's' }] })).toThrow(/members/);
    expect(() => oa.check('POST', '/api/syncs/{sync}/nope', 200, {})).toThrow(/not documented/);
  });
});
