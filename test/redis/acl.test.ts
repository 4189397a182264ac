import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { aclRule, REDIS_COMMANDS } from '../../src/redis/acl.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

function luaFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? luaFiles(join(dir, e.name)) : e.name.endsWith('.lua') ? [join(dir, e.name)] : [],
  );
}

describe('the ACL rule of a catalog-sync Redis user', () => {
  it("grants every command a Lua script calls (a script's calls are checked against the caller's ACL)", () => {
    const files = luaFiles(SRC);
    expect(files.length).toBeGreaterThan(10);
    const called = new Set<string>();
    for (const file of files) {
      const lua = readFileSync(file, 'utf8');
      // Scripts call redis.call directly or through `local rcall = redis.call`.
      expect(lua).not.toMatch(/redis\.p?call\(\s*[^'"\s]/);
      for (const m of lua.matchAll(/\b(?:redis\.p?call|rcall)\(\s*['"]([A-Za-z]+)['"]/g))
        called.add(m[1]!.toLowerCase());
    }
    expect(called.size).toBeGreaterThan(10);
    expect([...called].filter((c) => !(REDIS_COMMANDS as readonly string[]).includes(c))).toEqual([]);
  });

  it('is one line: its keys only, no channels, nothing but the listed commands', () => {
    const rule = aclRule('catalog-sync', '<password>', 'cs');
    expect(rule).toMatch(/^catalog-sync on ><password> resetkeys ~cs:\* resetchannels -@all \+evalsha /);
    expect(rule).not.toContain('\n');
    expect(rule).not.toMatch(/\+@|allkeys|allcommands/);
  });
});
