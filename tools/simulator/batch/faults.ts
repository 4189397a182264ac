import { z } from 'zod';
import { sleep } from '../http.js';

const rate = z.number().min(0).max(1);
const ms = z.number().min(0);

export const faultsSchema = z.strictObject({
  serverErrorRate: rate
    .optional()
    .describe('share of API calls answered 500 or 503 before anything is applied'),
  latencyMs: ms.optional().describe('delay added to every API call'),
  latencyJitterMs: ms.optional().describe('extra random delay, uniform in [0, latencyJitterMs)'),
  force429UntilMs: ms.optional().describe('epoch ms until which every items/edit call is answered 429'),
  dropAfterApplyRate: rate
    .optional()
    .describe('share of mutating calls applied, then answered by a reset socket'),
});

export type BatchFaults = {
  [K in keyof z.infer<typeof faultsSchema>]-?: NonNullable<z.infer<typeof faultsSchema>[K]>;
};

const NONE: BatchFaults = {
  serverErrorRate: 0,
  latencyMs: 0,
  latencyJitterMs: 0,
  force429UntilMs: 0,
  dropAfterApplyRate: 0,
};

export class FaultInjector {
  private faults: BatchFaults = { ...NONE };

  set(faults: Partial<BatchFaults>): void {
    const next: BatchFaults = { ...this.faults };
    for (const [name, value] of Object.entries(faultsSchema.parse(faults))) {
      if (value !== undefined) next[name as keyof BatchFaults] = value;
    }
    this.faults = next;
  }

  clear(): void {
    this.faults = { ...NONE };
  }

  current(): BatchFaults {
    return { ...this.faults };
  }

  delay(): Promise<void> {
    const { latencyMs, latencyJitterMs } = this.faults;
    return sleep(latencyMs + Math.random() * latencyJitterMs);
  }

  /** The status of an injected server error for this call, if one is due. */
  serverError(): 500 | 503 | undefined {
    if (Math.random() >= this.faults.serverErrorRate) return undefined;
    return Math.random() < 0.5 ? 500 : 503;
  }

  forced429RetryAfterMs(): number | undefined {
    const left = this.faults.force429UntilMs - Date.now();
    return left > 0 ? left : undefined;
  }

  dropAfterApply(): boolean {
    return Math.random() < this.faults.dropAfterApplyRate;
  }
}
