export interface YotpoSimStats {
  /** Every call that reached a Yotpo API route, whatever its outcome. */
  requests: number;
  /** Customer creates and updates answered 200. */
  upserts: number;
  created: number;
  updated: number;
  /** Look-ups (GET customers) answered 200. */
  lookups: number;
  rejected429: number;
  /** 4xx answers other than 429 (auth, validation). */
  errors4xx: number;
  errors5xx: number;
  /** Epoch ms of the first and last accepted upsert. */
  firstUpsertAtMs?: number;
  lastUpsertAtMs?: number;
}

export class YotpoStatsRecorder {
  private s: YotpoSimStats = {
    requests: 0,
    upserts: 0,
    created: 0,
    updated: 0,
    lookups: 0,
    rejected429: 0,
    errors4xx: 0,
    errors5xx: 0,
  };

  request(): void {
    this.s.requests++;
  }

  status(status: number): void {
    if (status === 429) this.s.rejected429++;
    else if (status >= 500) this.s.errors5xx++;
    else if (status >= 400) this.s.errors4xx++;
  }

  upsert(created: boolean, nowMs = Date.now()): void {
    this.s.upserts++;
    if (created) this.s.created++;
    else this.s.updated++;
    this.s.firstUpsertAtMs ??= nowMs;
    this.s.lastUpsertAtMs = nowMs;
  }

  lookup(): void {
    this.s.lookups++;
  }

  snapshot(): YotpoSimStats {
    return { ...this.s };
  }
}
