/** Batch catalogs as a catalog-sync destination: the `batch:` section, a sync's target, the factory. */
import { z } from 'zod';
import { ConfigError } from '../../errors.js';
import { type Secret, secretRef } from '../../secret.js';
import type { DestinationPlugin } from '../plugin.js';
import { DEFAULT_BASE_URL } from './client.js';
import { accountOf, BatchDestination, batchLimits } from './destination.js';
import { BatchCatalogDestination } from './sync-destination.js';
import type { FieldSpec } from './types.js';

const section = z
  .object({
    baseUrl: z.string().url().default(DEFAULT_BASE_URL).describe('env BATCH_API_URL'),
    projects: z.record(
      z.string(),
      z.object({ projectKey: secretRef, restApiKey: secretRef }).strict().describe('a Batch project'),
    ),
    limits: z
      .object({
        requestsPerSecond: z.number().positive().default(5).describe('Batch requests per second per project'),
        itemsPerSecond: z
          .number()
          .positive()
          .default(1000)
          .describe('Batch item updates per second per project'),
        headroom: z
          .number()
          .gt(0)
          .max(1)
          .default(1)
          .describe(
            'share of the limits the shared bucket runs at; lower only to leave room for another client',
          ),
      })
      .strict()
      .prefault({}),
  })
  .strict();

const target = z
  .object({
    type: z.literal('batch').describe('a Batch catalog'),
    project: z.string().min(1).describe('key of batch.projects this sync writes to'),
    catalog: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1 to 128 characters of [A-Za-z0-9_-]')
      .describe('Batch catalog name; created on first use when missing'),
  })
  .strict();

export interface ResolvedBatchProject {
  name: string;
  projectKey: Secret;
  restApiKey: Secret;
}

export type BatchSection = Omit<z.output<typeof section>, 'projects'> & {
  projects: Record<string, ResolvedBatchProject>;
};

function projectOf(section: BatchSection, name: string): ResolvedBatchProject {
  const project = section.projects[name];
  if (!project) throw new ConfigError(`no Batch project ${name} under batch.projects`, 'batch.projects');
  return project;
}

export const batchPlugin: DestinationPlugin<'batch', typeof section, typeof target, BatchSection> = {
  type: 'batch',
  section,
  target,
  env: { BATCH_API_URL: ['baseUrl'] },
  check(sync, parsed, issue) {
    if (!parsed?.projects[sync.destination.project])
      issue(
        ['destination', 'project'],
        `project ${sync.destination.project} is not defined under batch.projects`,
      );
  },
  resolve(parsed, secret) {
    const projects = Object.fromEntries(
      Object.entries(parsed.projects).map(([name, p]) => [
        name,
        {
          name,
          projectKey: secret(p.projectKey, `batch.projects.${name}.projectKey`),
          restApiKey: secret(p.restApiKey, `batch.projects.${name}.restApiKey`),
        },
      ]),
    );
    return { ...parsed, projects };
  },
  label: (t) => `batch:${t.catalog}`,
  baseUrl: (s) => s.baseUrl,
  create(context, s, sync) {
    const project = projectOf(s, sync.target.project);
    const destination = new BatchDestination({
      redis: context.redis,
      keys: context.keys,
      logger: context.logger,
      limits: s.limits,
      onEvent: (e) => context.onEvent(e),
      onTokenWait: (ms) => context.onTokenWait(ms),
    });
    const fields = sync.attributes.flatMap(({ attribute, type }): FieldSpec[] =>
      type ? [{ name: attribute, type }] : [],
    );
    return new BatchCatalogDestination(destination, {
      project: {
        projectKey: project.projectKey.reveal(),
        restApiKey: project.restApiKey.reveal(),
        baseUrl: s.baseUrl,
      },
      catalog: sync.target.catalog,
      fields,
    });
  },
  account(s, t) {
    const project = projectOf(s, t.project);
    return {
      // accountOf reads the project key only: the REST API key is never needed to name the bucket.
      name: () => accountOf({ projectKey: project.projectKey.reveal(), restApiKey: '', baseUrl: s.baseUrl }),
      limits: batchLimits(s.limits),
    };
  },
};
