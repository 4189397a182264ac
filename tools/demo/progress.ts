/**
 * Live progress on stderr: one rewritten line on a terminal, a plain line every few seconds otherwise
 * (CI logs). Figures come from the simulator's stats and the status topic.
 */
import type { BatchSimStats } from '../simulator/server.js';
import type { StatusTracker } from './tracker.js';

interface Sources {
  stats: () => BatchSimStats;
  tracker: StatusTracker;
  limit: number;
  totalRuns: number;
}

const n = (v: number) => v.toLocaleString('en-US');

export class Progress {
  private readonly started = Date.now();
  private sources: Sources | undefined;
  private timer: NodeJS.Timeout | undefined;
  private label = '';
  private sent = 0;
  private lastPlain = '';
  private lastPlainAt = 0;
  private liveLine = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  private get tty(): boolean {
    return this.out.isTTY === true;
  }

  log(line: string): void {
    this.clearLive();
    this.out.write(`[${this.elapsed()}] ${line}\n`);
  }

  attach(sources: Sources): void {
    this.sources = sources;
    this.timer = setInterval(() => this.tick(), this.tty ? 500 : 1000);
    this.timer.unref();
  }

  detach(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clearLive();
  }

  phase(label: string): void {
    this.label = label;
    this.sent = 0;
  }

  produced(sent: number): void {
    this.sent = sent;
  }

  private tick(): void {
    const s = this.sources;
    if (!s) return;
    const stats = s.stats();
    const lastSecond = Math.floor(Date.now() / 1000) - 1;
    const rate = stats.itemsPerSecond.find((x) => x.second === lastSecond)?.items ?? 0;
    const line =
      `${this.label}: ${this.sent ? `${n(this.sent)} events produced · ` : ''}` +
      `${n(stats.itemsEdited)} items sent · ${n(rate)} items/s (limit ${n(s.limit)}/s) · ` +
      `runs completed ${s.tracker.completedRuns}/${s.totalRuns}` +
      (stats.rejected429 ? ` · ${n(stats.rejected429)} × 429` : '');
    if (this.tty) {
      this.out.write(`\r\x1b[2K[${this.elapsed()}] ${line}`);
      this.liveLine = true;
    } else if (Date.now() - this.lastPlainAt >= 3000 && line !== this.lastPlain) {
      this.out.write(`[${this.elapsed()}] ${line}\n`);
      this.lastPlain = line;
      this.lastPlainAt = Date.now();
    }
  }

  private clearLive(): void {
    if (this.liveLine) this.out.write('\r\x1b[2K');
    this.liveLine = false;
  }

  private elapsed(): string {
    return `${((Date.now() - this.started) / 1000).toFixed(1).padStart(5)}s`;
  }
}
