import { describe, expect, it } from 'vitest';
import { encodeValues, unwrapValue, wrapValue } from '../../src/ingest/change-event.js';

describe('values map wrapping', () => {
  it('wraps each plain value in the branch the Avro union needs', () => {
    expect(wrapValue(3)).toEqual({ long: 3 });
    expect(wrapValue(3.5)).toEqual({ double: 3.5 });
    expect(wrapValue(2 ** 60)).toEqual({ double: 2 ** 60 });
    expect(wrapValue('x')).toEqual({ string: 'x' });
    expect(wrapValue(false)).toEqual({ boolean: false });
    expect(wrapValue(['a'])).toEqual({ array: ['a'] });
    expect(wrapValue(null)).toBeNull();
  });

  it('has no wrapping for values Avro cannot carry', () => {
    expect(wrapValue(Number.NaN)).toBeUndefined();
    expect(wrapValue(Number.POSITIVE_INFINITY)).toBeUndefined();
    expect(wrapValue([1] as unknown as string[])).toBeUndefined();
    expect(() => encodeValues({ bad: { a: 1 } as unknown as string })).toThrow(/column bad/);
  });

  it('unwraps back to the plain value', () => {
    const values = { a: 1, b: 1.25, c: 'x', d: true, e: ['y'], f: null };
    const wrapped = encodeValues(values);
    expect(Object.fromEntries(Object.entries(wrapped).map(([k, v]) => [k, unwrapValue(v)]))).toEqual(values);
  });
});
