/**
 * The Prometheus metrics of one service instance, in a registry of its own (several services share a
 * process in tests). Counters are fed by the service's hooks; gauges read their source at scrape time.
 */
import diagnostics from 'node:diagnostics_channel';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { DestinationEvent } from '../destinations/status.js';
import type { StatusInput } from '../status/types.js';

/** What the gauges read when scraped. */
export interface MetricSources {
  /** CDC partitions this instance holds now: the lag of the others is someone else's. */
  assignedPartitions(): number[];
  /** Items waiting in each sync's micro-batch buffer. */
  queued(): Iterable<readonly [syncId: string, items: number]>;
  /** Per sync, from Redis: runs not finished yet and deletions the guardrail holds. */
  runs(): Promise<Iterable<readonly [syncId: string, runs: { inProgress: number; held: number }]>>;
  /** Per sync, from Redis: whether an operator paused it (admin API). */
  paused?(): Promise<Iterable<readonly [syncId: string, paused: boolean]>>;
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly consumerLag: Gauge<'partition'>;
  private readonly lagged = new Set<number>();
  readonly events: Counter<'sync' | 'type'>;
  readonly items: Counter<'sync' | 'outcome'>;
  readonly deadLetters: Counter<'code'>;
  readonly requestDuration: Histogram<'destination' | 'endpoint' | 'status'>;
  readonly rateLimited: Counter<'sync' | 'destination'>;
  readonly retries: Counter<'sync' | 'destination'>;
  readonly tokenWait: Histogram<'sync'>;
  readonly fenced: Counter;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'catalog_sync_' });
    this.consumerLag = new Gauge({
      name: 'catalog_sync_consumer_lag',
      help: 'Messages behind the high watermark of each assigned CDC partition, at its last fetch',
      labelNames: ['partition'],
      registers,
      collect: () => {
        const assigned = new Set(sources.assignedPartitions());
        for (const partition of this.lagged) {
          if (assigned.has(partition)) continue;
          this.consumerLag.remove({ partition });
          this.lagged.delete(partition);
        }
      },
    });
    this.events = new Counter({
      name: 'catalog_sync_events_total',
      help: 'CDC events consumed, by sync and event type',
      labelNames: ['sync', 'type'],
      registers,
    });
    this.items = new Counter({
      name: 'catalog_sync_items_total',
      help: 'Items by outcome: sent (accepted by the destination), rejected, skipped',
      labelNames: ['sync', 'outcome'],
      registers,
    });
    this.deadLetters = new Counter({
      name: 'catalog_sync_dead_letters_total',
      help: 'CDC events that could not be applied, by dead-letter code',
      labelNames: ['code'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'catalog_sync_destination_request_duration_seconds',
      help: 'HTTP requests to destination APIs, by endpoint and response status',
      labelNames: ['destination', 'endpoint', 'status'],
      buckets: SECONDS,
      registers,
    });
    this.rateLimited = new Counter({
      name: 'catalog_sync_destination_rate_limited_total',
      help: 'Destination requests answered 429',
      labelNames: ['sync', 'destination'],
      registers,
    });
    this.retries = new Counter({
      name: 'catalog_sync_destination_retries_total',
      help: 'Destination requests retried (429, 5xx, no answer)',
      labelNames: ['sync', 'destination'],
      registers,
    });
    this.tokenWait = new Histogram({
      name: 'catalog_sync_token_wait_seconds',
      help: "Time each destination request waited for the shared rate-limit bucket's tokens",
      labelNames: ['sync'],
      buckets: [0, ...SECONDS],
      registers,
    });
    this.fenced = new Counter({
      name: 'catalog_sync_generation_fenced_total',
      help: 'Requests refused because a newer consumer group generation owns their partition (a zombie)',
      registers,
    });
    new Gauge({
      name: 'catalog_sync_buffer_queued_items',
      help: 'Changes waiting in the micro-batch buffer of each sync',
      labelNames: ['sync'],
      registers,
      collect() {
        this.reset();
        for (const [sync, n] of sources.queued()) this.set({ sync }, n);
      },
    });
    new Gauge({
      name: 'catalog_sync_runs_in_progress',
      help: 'Runs started and not finished yet, per sync (shared state in Redis)',
      labelNames: ['sync'],
      registers,
      async collect() {
        this.reset();
        for (const [sync, r] of await sources.runs()) this.set({ sync }, r.inProgress);
      },
    });
    new Gauge({
      name: 'catalog_sync_deletions_held',
      help: 'Mirror deletions held by the guardrail, awaiting release-deletions (shared state in Redis)',
      labelNames: ['sync'],
      registers,
      async collect() {
        this.reset();
        for (const [sync, r] of await sources.runs()) this.set({ sync }, r.held);
      },
    });
    if (sources.paused) {
      const paused = sources.paused;
      new Gauge({
        name: 'catalog_sync_paused',
        help: '1 while an operator has paused the sync (admin API): nothing of it is sent (shared state in Redis)',
        labelNames: ['sync'],
        registers,
        async collect() {
          this.reset();
          for (const [sync, p] of await paused()) this.set({ sync }, p ? 1 : 0);
        },
      });
    }
  }

  /** Lag of a partition as its last fetch saw it (high watermark - last offset - 1). */
  setLag(partition: number, lag: number): void {
    this.lagged.add(partition);
    this.consumerLag.set({ partition }, lag);
  }

  /** Every status event passes here: items sent, rejected and skipped are counted off them. */
  observeStatus(e: StatusInput): void {
    const n = e.itemIds?.length ?? 0;
    if (e.type === 'REQUEST_ACCEPTED') this.items.inc({ sync: e.syncId, outcome: 'sent' }, n);
    else if (e.type === 'ITEM_REJECTED') this.items.inc({ sync: e.syncId, outcome: 'rejected' }, n);
    else if (e.type === 'ITEMS_SKIPPED') this.items.inc({ sync: e.syncId, outcome: 'skipped' }, n);
    else if (e.type === 'DEAD_LETTER') this.deadLetters.inc({ code: e.errorCode ?? 'UNKNOWN' });
  }

  observeDestinationEvent(syncId: string, destination: string, e: DestinationEvent): void {
    if (e.type !== 'request_retried') return;
    const labels = { sync: syncId, destination };
    this.retries.inc(labels);
    if (e.status === 429) this.rateLimited.inc(labels);
  }

  /**
   * Times every fetch() to a destination base URL through undici's diagnostics channels: the clients
   * stay free of metrics code, and each attempt (retries, bisection halves) is one observation.
   * Returns the unsubscribe function.
   */
  observeHttp(destinations: { name: string; baseUrl: string }[]): () => void {
    const bases = destinations.map((d) => ({ name: d.name, url: new URL(d.baseUrl) }));
    const started = new WeakMap<object, { t: number; destination: string; endpoint: string }>();
    const match = (request: UndiciRequest) => {
      for (const b of bases) {
        const base = b.url.pathname.replace(/\/+$/, '');
        if (request.origin === b.url.origin && request.path.startsWith(`${base}/`)) {
          return { destination: b.name, endpoint: request.path.slice(base.length).split('?')[0]! };
        }
      }
      return undefined;
    };
    const finish = (request: object, status: string) => {
      const s = started.get(request);
      if (!s) return;
      started.delete(request);
      this.requestDuration.observe(
        { destination: s.destination, endpoint: s.endpoint, status },
        (performance.now() - s.t) / 1000,
      );
    };
    const onCreate = (msg: unknown) => {
      const { request } = msg as { request: UndiciRequest };
      const m = match(request);
      if (m) started.set(request, { t: performance.now(), ...m });
    };
    const onHeaders = (msg: unknown) => {
      const { request, response } = msg as { request: object; response: { statusCode: number } };
      finish(request, String(response.statusCode));
    };
    const onError = (msg: unknown) => finish((msg as { request: object }).request, 'error');
    diagnostics.subscribe('undici:request:create', onCreate);
    diagnostics.subscribe('undici:request:headers', onHeaders);
    diagnostics.subscribe('undici:request:error', onError);
    return () => {
      diagnostics.unsubscribe('undici:request:create', onCreate);
      diagnostics.unsubscribe('undici:request:headers', onHeaders);
      diagnostics.unsubscribe('undici:request:error', onError);
    };
  }
}

interface UndiciRequest {
  origin: string;
  path: string;
}
