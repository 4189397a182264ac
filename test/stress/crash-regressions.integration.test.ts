/**
 * Deterministic forms of what runs-crash found. An instance killed between flagging a removal
 * (removal pending) and settling it leaves the flag; the replay that follows is staged here by hand.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';

describe('crash regressions found by the model-based test (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  // Failed on 5ead4a0: the replayed row of run 1 waited for the removal flag, and delta 2's deletion,
  // which clears it, waited behind that row in the pipeline's held queue, for ever. Now the deletion
  // replaces the waiting row (which settles as SUPERSEDED in run 1) and goes out.
  it('a removal flagged by a dead instance does not stall the replay of an earlier row of the item', async () => {
    fx = await pipelineFixture([productSync('rf', 'products', 'full_then_delta', 'mirror')]);
    const svc = await fx.startInstance();
    const full = await fx.produce('rf', 'FULL', products(1, 3), [], 1);
    await fx.runDone('rf', full.runId);
    // The dead instance had read delta 2 and flagged sku-2's removal; it had not committed run 1's row.
    await svc
      .state('rf')
      .prepareRemovals({ runId: 'delta-2', seq: 2, kind: 'DELTA' }, ['sku-2'], 'members-only');
    await fx.produce('rf', 'FULL', products(2, 2), [], 1);
    const delta = await fx.produce('rf', 'DELTA', [], ['sku-2'], 2);
    const info = await fx.runDone('rf', delta.runId, 15_000);
    expect(info.state).toBe('done');
    expect([...fx.items('products').keys()].sort()).toEqual(['sku-1', 'sku-3']);
  });
});
