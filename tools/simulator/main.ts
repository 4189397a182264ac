import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { startSimulator } from './server.js';

function number(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError('expected a number >= 0');
  return n;
}

function project(value: string, previous: { projectKey: string; restApiKey: string }[] = []) {
  const [projectKey, restApiKey, ...rest] = value.split(':');
  if (!projectKey || !restApiKey || rest.length > 0)
    throw new InvalidArgumentError('expected <projectKey>:<restApiKey>');
  return [...previous, { projectKey, restApiKey }];
}

function store(value: string, previous: { storeId: string; token: string }[] = []) {
  const [storeId, token, ...rest] = value.split(':');
  if (!storeId || !token || rest.length > 0) throw new InvalidArgumentError('expected <storeId>:<token>');
  return [...previous, { storeId, token }];
}

const program = new Command('simulate')
  .description(
    'Local simulator of the Batch Catalog API (any version prefix /2.6 .. /2.11), strict about its documented ' +
      'rules. Introspection: GET /_sim/batch/stats, GET /_sim/batch/catalogs/{project}/{name}; ' +
      'faults: POST /_sim/batch/faults. Also Yotpo Core API customers under /core/v3 ' +
      '(introspection: GET /_sim/yotpo/stats, GET /_sim/yotpo/stores/{store}/customers).',
  )
  .addOption(
    new Option('--port <port>', 'port to listen on (0 picks a free one)')
      .env('SIMULATOR_PORT')
      .argParser(number)
      .default(18080),
  )
  .option('--host <host>', 'interface to listen on', '127.0.0.1')
  .option('--indexing-delay-ms <ms>', 'time an indexing token reads IN_PROGRESS before APPLIED', number, 500)
  .option('--requests-per-second <n>', 'items/edit requests per second per project (token bucket)', number, 5)
  .option(
    '--items-per-second <n>',
    'items/edit item updates per second per project (token bucket)',
    number,
    1000,
  )
  .option('--max-items <n>', 'items per catalog', number, 2_000_000)
  .option(
    '--project <projectKey:restApiKey>',
    'a project and the REST API key that authenticates it; repeat for several (default project_demo:rest_demo_key)',
    project,
  )
  .option(
    '--yotpo-requests-per-second <n>',
    'Yotpo API calls per second per store (token bucket)',
    number,
    10,
  )
  .option(
    '--yotpo-store <storeId:token>',
    'a Yotpo store and the access token that authenticates it; repeat for several (default store_demo:yotpo_demo_token)',
    store,
  )
  .action(async (opts) => {
    const simulator = await startSimulator({
      port: opts.port,
      host: opts.host,
      batch: {
        indexingDelayMs: opts.indexingDelayMs,
        requestsPerSecond: opts.requestsPerSecond,
        itemsPerSecond: opts.itemsPerSecond,
        maxItems: opts.maxItems,
        ...(opts.project ? { projects: opts.project } : {}),
      },
      yotpo: {
        requestsPerSecond: opts.yotpoRequestsPerSecond,
        ...(opts.yotpoStore ? { stores: opts.yotpoStore } : {}),
      },
    });
    const projects = (opts.project ?? [{ projectKey: 'project_demo' }]).map(
      (p: { projectKey: string }) => p.projectKey,
    );
    const stores = (opts.yotpoStore ?? [{ storeId: 'store_demo' }]).map(
      (s: { storeId: string }) => s.storeId,
    );
    process.stdout.write(
      `simulator  ${simulator.url}\nbatch      ${simulator.batchUrl}\nprojects   ${projects.join(', ')}\n` +
        `yotpo      ${simulator.yotpoUrl}\nstores     ${stores.join(', ')}\n`,
    );
    const stop = () => {
      simulator.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });

// Wrong arguments exit 2, like every catalog-sync command; commander has printed why.
program.exitOverride();
program.parseAsync().catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
