/**
 * Whether the brokers answer right now, for /readyz. The consumer's own state lags: kafkajs keeps
 * retrying (and reporting itself connected) for a long while after the brokers went away. One metadata
 * request (DescribeCluster) answered by any broker of the cluster says the cluster is reachable; the
 * answer is kept a moment so frequent probes do not load the brokers.
 */
import { type Admin, createKafka, type KafkaOptions } from './client.js';

export class BrokerProbe {
  private admin: Admin | undefined;
  private last: { at: number; result: true | string } | undefined;
  private running: Promise<true | string> | undefined;
  private closed = false;

  constructor(
    private readonly opts: KafkaOptions,
    private readonly settings: { cacheMs?: number; timeoutMs?: number } = {},
  ) {}

  /** true, or why the brokers are not reachable (never throws). */
  check(): Promise<true | string> {
    const cacheMs = this.settings.cacheMs ?? 2000;
    if (this.last && Date.now() - this.last.at < cacheMs) return Promise.resolve(this.last.result);
    this.running ??= this.ask().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running?.catch(() => undefined);
    await this.drop();
  }

  private async ask(): Promise<true | string> {
    if (this.closed) return 'stopping';
    const timeoutMs = this.settings.timeoutMs ?? 3000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    let result: true | string;
    try {
      this.admin ??= createKafka({
        ...this.opts,
        retries: 1,
        connectionTimeoutMs: Math.min(2000, timeoutMs),
      }).admin();
      const admin = this.admin;
      await Promise.race([
        (async () => {
          await admin.connect();
          await admin.describeCluster();
        })(),
        timeout,
      ]);
      result = true;
    } catch (err) {
      // A fresh client next time: kafkajs's connections to a broker that went away may be stale.
      await this.drop();
      const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
      result = `kafka brokers unreachable: ${message}`;
    } finally {
      clearTimeout(timer);
    }
    this.last = { at: Date.now(), result };
    return result;
  }

  private async drop(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.disconnect().catch(() => undefined);
  }
}
