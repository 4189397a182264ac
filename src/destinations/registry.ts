/**
 * The destinations catalog-sync can write to. A new one is a folder exporting a DestinationPlugin and
 * one entry in each list below; the configuration, the service and `inspect` find it here.
 */
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { batchPlugin } from './batch/plugin.js';
import type { DestinationPlugin } from './plugin.js';
import { yotpoPlugin } from './yotpo/plugin.js';

/** The top-level section of each destination, optional: a file configures the ones it uses. */
export const destinationSections = {
  batch: batchPlugin.section.optional().describe('Batch projects (Batch catalogs)'),
  yotpo: yotpoPlugin.section.optional().describe('Yotpo stores (Yotpo contacts)'),
};

/** A sync's `destination` block: one form per destination, told apart by `type`. */
export const destinationTarget = z.discriminatedUnion('type', [batchPlugin.target, yotpoPlugin.target]);

const plugins = { batch: batchPlugin, yotpo: yotpoPlugin };

type Plugins = typeof plugins;
export type DestinationType = keyof Plugins;
export type DestinationTarget = z.output<typeof destinationTarget>;

/** Each destination section with its secret references read. */
export type DestinationSections = {
  [K in DestinationType]?: ReturnType<Plugins[K]['resolve']>;
};

/** A plugin seen through what every plugin shares; the configuration pairs its section and targets. */
export type AnyDestinationPlugin = DestinationPlugin<string, z.ZodType, z.ZodType<{ type: string }>, unknown>;

export const DESTINATIONS: readonly AnyDestinationPlugin[] = Object.values(plugins);

export function isDestinationType(name: string): name is DestinationType {
  return Object.hasOwn(plugins, name);
}

export function destinationPlugin(type: string): AnyDestinationPlugin {
  if (!isDestinationType(type)) throw new ConfigError(`no destination of type ${type}`, 'syncs');
  return plugins[type];
}

/** The resolved section a plugin's syncs use; undefined when the configuration has none. */
export function sectionOf(sections: DestinationSections, type: string): unknown {
  return isDestinationType(type) ? sections[type] : undefined;
}

/** Environment variables overriding destination sections, by configuration path. */
export const DESTINATION_ENV: Record<string, string[]> = Object.fromEntries(
  DESTINATIONS.flatMap((p) => Object.entries(p.env).map(([name, path]) => [name, [p.type, ...path]])),
);
