/**
 * The status page: plain server-rendered HTML. Its small script fetches the live part again every
 * second (`/status/live`, the same rendering), works out items/s from the settled counts it saw, and
 * calls the admin API for the buttons with the token the operator typed once (kept in the browser's
 * localStorage). No build step, no library.
 */
import type { JournalEntry } from '../../status/journal.js';
import type { SyncView } from './view.js';

export interface LiveData {
  syncs: SyncView[];
  /** Recent rejections per sync id, newest first. */
  rejections: Map<string, JournalEntry[]>;
}

const esc = (v: unknown): string =>
  String(v ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

const time = (ms: number) => (ms > 0 ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '');

function table(head: string[], rows: string[], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${esc(empty)}</p>`;
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The part of the page that changes: what `/status/live` answers and `/` embeds. */
export function renderLive(data: LiveData): string {
  const { syncs } = data;
  const syncRows = syncs.map(
    (s) => `<tr data-sync="${esc(s.syncId)}">
<td>${esc(s.syncId)}</td><td>${esc(s.destination)}</td><td>${esc(s.mode)} / ${esc(s.operation)}</td>
<td class="num">${s.members}</td><td class="num">${s.fingerprints.epoch}</td>
<td>${s.paused ? `<span class="badge paused" title="${esc(s.paused.reason ?? '')}">paused</span> by ${esc(s.paused.by)} ${esc(time(s.paused.at))}` : '<span class="badge ok">running</span>'}</td>
<td>${s.lastRuns
      .slice(0, 3)
      .map(
        (r) =>
          `${esc(r.runId)} ${esc(r.type)}${r.counts ? ` (+${r.counts.upserted} −${r.counts.removed} ✗${r.counts.rejected})` : ''}`,
      )
      .join('<br>')}</td>
<td>${
      s.paused
        ? `<button data-action="resume" data-sync="${esc(s.syncId)}">Resume</button>`
        : `<button data-action="pause" data-sync="${esc(s.syncId)}">Pause</button>`
    }</td></tr>`,
  );
  const runRows = syncs.flatMap((s) =>
    s.runs.map((r) => {
      const pct = r.expected ? Math.min(100, Math.floor((100 * r.settled) / Math.max(1, r.expected))) : null;
      return `<tr class="run" data-key="${esc(`${s.syncId}/${r.runId}`)}" data-settled="${r.settled}">
<td>${esc(s.syncId)}</td><td>${esc(r.runId)}</td><td>${esc(r.kind)}</td><td>${esc(r.state)}${r.waitingFor ? ` (waits for ${esc(r.waitingFor)})` : ''}</td>
<td><progress max="100" value="${pct ?? 0}"></progress> <span class="settled">${r.settled}</span> / ${r.expected ?? '?'}${pct === null ? '' : ` (${pct}%)`}</td>
<td class="num rate">–</td>
<td class="num">${r.upserted}</td><td class="num">${r.removed}</td><td class="num">${r.rejected}</td><td class="num">${r.skipped}</td></tr>`;
    }),
  );
  const heldRows = syncs.flatMap((s) =>
    s.heldDeletions.map(
      (
        h,
      ) => `<tr data-held="${esc(`${s.syncId}/${h.runId}`)}"><td>${esc(s.syncId)}</td><td>${esc(h.runId)}</td><td class="num">${h.count}</td>
<td><button data-action="release" data-sync="${esc(s.syncId)}" data-run="${esc(h.runId)}">Release</button>
<button data-action="discard" data-sync="${esc(s.syncId)}" data-run="${esc(h.runId)}">Discard</button></td></tr>`,
    ),
  );
  const rejectionRows = syncs.flatMap((s) =>
    (data.rejections.get(s.syncId) ?? []).map(
      (r) =>
        `<tr><td>${esc(time(r.at))}</td><td>${esc(s.syncId)}</td><td>${esc(r.runId ?? '')}</td><td>${esc(r.type)}</td><td>${esc(r.errorCode ?? '')}</td><td>${esc(r.itemIds.join(', '))}</td><td>${esc(r.message ?? '')}</td></tr>`,
    ),
  );
  const buckets = new Map<string, { syncs: string[]; row: SyncView['rateLimit'] }>();
  for (const s of syncs) {
    const key = s.rateLimit.account ?? `(unavailable) ${s.syncId}`;
    const b = buckets.get(key) ?? { syncs: [], row: s.rateLimit };
    b.syncs.push(s.syncId);
    buckets.set(key, b);
  }
  const bucketRows = [...buckets.entries()].map(([account, { syncs: ids, row }]) =>
    row.account === null
      ? `<tr><td>–</td><td>${esc(ids.join(', '))}</td><td colspan="3">${esc(row.unavailable)}</td></tr>`
      : `<tr><td>${esc(account)}</td><td>${esc(ids.join(', '))}</td><td class="num">${row.requests.toFixed(2)} / ${row.requestCapacity}</td><td class="num">${Math.floor(row.items)} / ${row.itemCapacity}</td>
<td>${row.pauseMs > 0 ? `<span class="badge paused">429 pause, ${row.pauseMs} ms left</span>` : '<span class="badge ok">none</span>'}</td></tr>`,
  );
  return `<section><h2>Syncs</h2>${table(['sync', 'destination', 'mode / operation', 'members', 'fp epoch', 'state', 'last runs', ''], syncRows, 'no syncs')}</section>
<section><h2>Runs in progress</h2>${table(['sync', 'run', 'kind', 'state', 'progress (distinct ids settled / expected)', 'items/s', 'upserted', 'removed', 'rejected', 'skipped'], runRows, 'no run in progress')}</section>
<section><h2>Held deletions</h2>${table(['sync', 'run', 'deletions', ''], heldRows, 'no deletions held')}</section>
<section><h2>Recent rejections</h2>${table(['at (UTC)', 'sync', 'run', 'type', 'code', 'items', 'reason'], rejectionRows, 'no rejections recorded')}</section>
<section><h2>Project buckets</h2>${table(['account', 'syncs', 'requests', 'items', '429 pause'], bucketRows, 'none')}</section>`;
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.4em;margin:0 0 .3em}
h2{font-size:1.1em;margin:1.2em 0 .4em}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}.empty{color:#777}
.badge{padding:.1em .5em;border-radius:.8em;font-size:.85em}.ok{background:#dfd}.paused{background:#fdd}
#bar{display:flex;gap:.5em;align-items:center;flex-wrap:wrap}#flash{margin-left:1em;font-weight:600}progress{width:10em}`;

const SCRIPT = `(() => {
  const KEY = 'catalog-sync-admin-token';
  const live = document.getElementById('live');
  const flash = document.getElementById('flash');
  const tokenInput = document.getElementById('token');
  tokenInput.value = localStorage.getItem(KEY) || '';
  document.getElementById('save-token').addEventListener('click', () => {
    localStorage.setItem(KEY, tokenInput.value.trim());
    say('token saved in this browser');
    refresh();
  });
  const headers = () => {
    const t = localStorage.getItem(KEY);
    return t ? { authorization: 'Bearer ' + t } : {};
  };
  const say = (text) => { flash.textContent = text; };
  // Per run, the settled counts seen over the last 10 s: items/s is their slope (requests of up to
  // 200 items land a few seconds apart, so one refresh to the next is too short a window).
  let samples = new Map();
  function rates() {
    const now = performance.now();
    const next = new Map();
    for (const row of live.querySelectorAll('tr.run')) {
      const key = row.dataset.key;
      const list = (samples.get(key) || []).filter((s) => now - s.at <= 10000);
      list.push({ at: now, settled: Number(row.dataset.settled) });
      next.set(key, list);
      const first = list[0];
      const cell = row.querySelector('.rate');
      if (list.length < 2 || now - first.at < 1500) cell.textContent = '–';
      else cell.textContent = (((list[list.length - 1].settled - first.settled) * 1000) / (now - first.at)).toFixed(1);
    }
    samples = next;
  }
  let busy = false;
  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const res = await fetch('/status/live', { headers: headers(), cache: 'no-store' });
      if (res.ok) { live.innerHTML = await res.text(); rates(); }
      else if (res.status === 401 || res.status === 403) say('enter the admin token to see the page');
    } catch (e) {
      say('refresh failed: ' + e);
    } finally {
      busy = false;
    }
  }
  document.addEventListener('click', async (ev) => {
    const b = ev.target.closest('button[data-action]');
    if (!b) return;
    const { action, sync, run } = b.dataset;
    if ((action === 'release' || action === 'discard') &&
        !confirm(action + ' the held deletions of ' + sync + ' run ' + run + '?')) return;
    const path = '/api/syncs/' + encodeURIComponent(sync) +
      (run ? '/runs/' + encodeURIComponent(run) : '') + '/' + action;
    b.disabled = true;
    say(action + ' ' + sync + (run ? ' ' + run : '') + '…');
    try {
      const res = await fetch(path, { method: 'POST', headers: headers() });
      const body = await res.json();
      say(res.ok ? action + ': ' + JSON.stringify(body) : action + ' refused (' + res.status + '): ' + body.error);
    } catch (e) {
      say(action + ' failed: ' + e);
    } finally {
      b.disabled = false;
      refresh();
    }
  });
  rates();
  setInterval(refresh, 1000);
  if (!live.dataset.rendered) refresh();
})();`;

/** The whole page; `live` null when reads need the token (the script loads it). */
export function renderStatusPage(live: LiveData | null, opts: { instanceId: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>catalog-sync status</title><style>${STYLE}</style></head>
<body><h1>catalog-sync</h1>
<div id="bar"><span>answered by ${esc(opts.instanceId)}; every instance shows the whole group (state in Redis)</span>
<label>admin token <input id="token" type="password" autocomplete="off" size="24"></label>
<button id="save-token" type="button">Use token</button><span id="flash" role="status"></span></div>
<div id="live"${live ? ' data-rendered="1"' : ''}>${live ? renderLive(live) : '<p class="empty">loading…</p>'}</div>
<script>${SCRIPT}</script></body></html>
`;
}
