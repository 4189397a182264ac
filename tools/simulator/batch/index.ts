import { z } from 'zod';
import type { RouteModule } from '../http.js';
import { type BatchFaults, FaultInjector } from './faults.js';
import { createIntrospectionRoutes } from './introspection.js';
import { EditRateLimiter } from './rate-limit.js';
import { createApiRoutes, type EditLogEntry, type ProjectState } from './routes.js';
import { type BatchSimStats, StatsRecorder } from './stats.js';
import { ProjectCatalogs } from './store.js';

export type { BatchFaults } from './faults.js';
export type { EditLogEntry } from './routes.js';
export type { BatchSimStats } from './stats.js';

const positive = z.number().positive();
const optionsSchema = z.strictObject({
  projects: z
    .array(z.strictObject({ projectKey: z.string().min(1), restApiKey: z.string().min(1) }))
    .min(1)
    .default([{ projectKey: 'project_demo', restApiKey: 'rest_demo_key' }])
    .describe('projects the simulator knows, each with the REST API key that authenticates it'),
  requestsPerSecond: positive
    .default(5)
    .describe('items/edit requests per second per project (bucket capacity too)'),
  itemsPerSecond: positive
    .default(1000)
    .describe('items/edit item updates per second per project (bucket capacity too)'),
  indexingDelayMs: z
    .number()
    .min(0)
    .default(500)
    .describe('an indexing token reads IN_PROGRESS for this long, then APPLIED'),
  maxCatalogs: z.int().positive().default(5).describe('catalogs per project'),
  maxFields: z.int().positive().default(25).describe('fields per catalog'),
  maxItems: z.int().positive().default(2_000_000).describe('items per catalog'),
});

/** Defaults in `optionsSchema`: Batch's documented limits and rates. */
export interface BatchSimOptions {
  projects?: { projectKey: string; restApiKey: string }[];
  requestsPerSecond?: number;
  itemsPerSecond?: number;
  indexingDelayMs?: number;
  maxCatalogs?: number;
  maxFields?: number;
  maxItems?: number;
}

export interface BatchSim {
  /**
   * Live view of a catalog (do not mutate). Attributes are stored by field name, without the
   * `date()` / `url()` wrappers, with the values as sent.
   */
  catalog(
    projectKey: string,
    name: string,
  ): { fields: { name: string; type: string }[]; items: Map<string, Record<string, unknown>> } | undefined;
  /** One project's figures, or every project's together. */
  stats(projectKey?: string): BatchSimStats;
  faults: {
    set(faults: Partial<BatchFaults>): void;
    clear(): void;
    current(): BatchFaults;
  };
  /** Forgets catalogs, stats and rate-limit buckets; faults stay as set. */
  reset(): void;
  /**
   * Calls `listener` with every accepted items/edit call (the request log, for tests that count what
   * was sent twice); returns the function that removes it.
   */
  onEdit(listener: (e: EditLogEntry) => void): () => void;
}

export function createBatchSim(options: BatchSimOptions = {}): { sim: BatchSim; routes: RouteModule[] } {
  const opts = optionsSchema.parse(options);
  const faults = new FaultInjector();
  const projects = new Map<string, ProjectState>();
  let stats = new StatsRecorder();
  const editListeners = new Set<(e: EditLogEntry) => void>();
  const ctx = {
    projects,
    faults,
    editListeners,
    get stats() {
      return stats;
    },
    indexingDelayMs: opts.indexingDelayMs,
  };

  const reset = () => {
    stats = new StatsRecorder();
    projects.clear();
    for (const { projectKey, restApiKey } of opts.projects) {
      projects.set(projectKey, {
        restApiKey,
        catalogs: new ProjectCatalogs(opts),
        limiter: new EditRateLimiter(opts.requestsPerSecond, opts.itemsPerSecond),
        stats: new StatsRecorder(),
      });
    }
  };
  reset();

  const sim: BatchSim = {
    catalog(projectKey, name) {
      const catalog = projects.get(projectKey)?.catalogs.find(name);
      if (!catalog) return undefined;
      return { fields: catalog.describe().fields, items: catalog.items };
    },
    stats(projectKey) {
      if (projectKey === undefined) return stats.snapshot();
      return (projects.get(projectKey)?.stats ?? new StatsRecorder()).snapshot();
    },
    faults,
    reset,
    onEdit(listener) {
      editListeners.add(listener);
      return () => editListeners.delete(listener);
    },
  };
  return { sim, routes: [createApiRoutes(ctx), createIntrospectionRoutes(sim)] };
}
