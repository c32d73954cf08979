/**
 * Patroni's retry loop (docs/dcs.md §3.4): whenever time is left after a failed round it
 * pauses and submits again, so a budget's last round is never skipped.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import { FailReason } from '../../src/raft/core/types.js';
import { RuntimeFailReason } from '../../src/raft/runtime/outcome.js';

describe('KVStoreTTL.retry last round (docs/dcs.md §3.4)', () => {
  const kv = new KVStoreTTL({ selfAddr: null, partnerAddrs: [], retryTimeout: 10, retryPauseMs: 1000 });
  afterAll(() => kv.destroy());

  it('budget 1 s: MISSING_LEADER at once, leader known 1 s later -> Patroni resubmits and succeeds', async () => {
    let calls = 0;
    const t0 = performance.now();
    const res = await kv
      .retry((cb) => {
        calls++;
        // 1st round: no leader yet (fails at once); 2nd round (t ~ 1 s): committed
        if (calls === 1) cb(undefined, FailReason.MissingLeader);
        else setTimeout(() => cb('ok', FailReason.Success), 5);
      }, 1)
      .catch((e: Error) => `rejected: ${e.message}`);
    // Python: submit@0 fails, remaining 0.99 > 0 -> sleep(1) -> submit@1.0 -> success
    expect({ res, calls }).toEqual({ res: 'ok', calls: 2 });
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('budget 2 s (touch_member): 3 submissions like Patroni when every round fails at once', async () => {
    let calls = 0;
    await kv
      .retry((cb) => {
        calls++;
        cb(undefined, FailReason.MissingLeader);
      }, 2)
      .catch(() => undefined);
    expect(calls).toBeGreaterThanOrEqual(3); // Patroni: submits at t=0, 1, 2 (and maybe ~2.0+)
  });

  it("an unknown outcome is retried like Patroni's other failures (only REQUEST_DENIED ends the loop)", async () => {
    let calls = 0;
    const res = await kv.retry((cb) => {
      calls++;
      if (calls === 1) cb(undefined, RuntimeFailReason.UnknownOutcome);
      else cb('ok', FailReason.Success);
    }, 2);
    expect({ res, calls }).toEqual({ res: 'ok', calls: 2 });
  });
});
