import { describe, expect, it } from 'vitest';
import { ENV_OVERRIDES, parseConfig } from '../../src/config/config.js';
import { DESTINATIONS, destinationPlugin, sectionOf } from '../../src/destinations/registry.js';
import { ConfigError } from '../../src/errors.js';

const env = {
  KEY_A: 'project-key-secret',
  KEY_B: 'rest-key-secret',
  STORE: 'store-secret',
  TOKEN: 'tok-secret',
};
const SECRETS = Object.values(env);

/** One configured section and one sync target per registered destination: a new plugin adds its own. */
const SAMPLES: Record<
  string,
  { section: Record<string, unknown>; target: Record<string, unknown>; ref: string }
> = {
  batch: {
    section: { projects: { p: { projectKey: { env: 'KEY_A' }, restApiKey: { env: 'KEY_B' } } } },
    target: { type: 'batch', project: 'p', catalog: 'products' },
    ref: 'project',
  },
  yotpo: {
    section: { stores: { s: { storeId: { env: 'STORE' }, token: { env: 'TOKEN' } } } },
    target: { type: 'yotpo', store: 's', matchKey: 'external_id' },
    ref: 'store',
  },
};

const configFor = (type: string, target = SAMPLES[type]!.target) => ({
  [type]: SAMPLES[type]!.section,
  syncs: [{ id: 'one', destination: target, mode: 'full_then_delta', operation: 'upsert', idColumn: 'id' }],
});

describe('the destination registry', () => {
  it('has a sample here for every registered plugin, each under its own type', () => {
    expect(DESTINATIONS.map((p) => p.type).sort()).toEqual(Object.keys(SAMPLES).sort());
    for (const p of DESTINATIONS) expect(destinationPlugin(p.type)).toBe(p);
  });

  it('refuses an unknown destination type with a ConfigError', () => {
    expect(() => destinationPlugin('mailchimp')).toThrow(ConfigError);
    expect(() => parseConfig({ ...configFor('batch', { type: 'mailchimp' }) }, env)).toThrow(
      /syncs\.0\.destination/,
    );
  });

  for (const plugin of DESTINATIONS) {
    describe(plugin.type, () => {
      it('parses its section and a sync writing to it, and resolves the section under destinations', () => {
        const cfg = parseConfig(configFor(plugin.type), env);
        const section = sectionOf(cfg.destinations, plugin.type);
        expect(section).toBeDefined();
        expect(cfg.syncs[0]!.destination.type).toBe(plugin.type);
        expect(JSON.stringify(cfg)).not.toMatch(new RegExp(SECRETS.join('|')));
      });

      it('refuses a sync whose target names an entry its section does not have', () => {
        const { target, ref } = SAMPLES[plugin.type]!;
        expect(() => parseConfig(configFor(plugin.type, { ...target, [ref]: 'nope' }), env)).toThrow(
          new RegExp(`syncs\\.0\\.destination\\.${ref}: .*nope`),
        );
      });

      it('labels its syncs and names its rate account without a secret', () => {
        const cfg = parseConfig(configFor(plugin.type), env);
        const sync = cfg.syncs[0]!;
        const section = sectionOf(cfg.destinations, plugin.type);
        const label = plugin.label(sync.destination);
        const account = plugin.account(section, sync.destination);
        for (const text of [label, account.name()]) {
          expect(text.length).toBeGreaterThan(0);
          for (const secret of SECRETS) expect(text).not.toContain(secret);
        }
        expect(account.limits.requestsPerSecond).toBeGreaterThan(0);
      });

      it('takes its environment overrides into its own section only when the file has it', () => {
        const names = Object.entries(ENV_OVERRIDES).filter(([, path]) => path[0] === plugin.type);
        expect(names.length).toBeGreaterThan(0);
        for (const [name, path] of names) {
          const url = 'http://127.0.0.1:1/override';
          const cfg = parseConfig(configFor(plugin.type), { ...env, [name]: url });
          let node: unknown = sectionOf(cfg.destinations, plugin.type);
          for (const part of path.slice(1)) node = (node as Record<string, unknown>)[part];
          expect(node).toBe(url);
          const other = DESTINATIONS.find((p) => p.type !== plugin.type)!;
          const without = parseConfig(configFor(other.type), { ...env, [name]: url });
          expect(sectionOf(without.destinations, plugin.type)).toBeUndefined();
        }
      });
    });
  }
});
