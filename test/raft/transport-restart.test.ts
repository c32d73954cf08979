/**
 * A node that starts while a peer with a greater address (the one that dials, pysyncobj's rule)
 * is backing off its redials must not wait out that backoff — seconds after a few failures, longer
 * than an election timeout, so the restarted node would campaign and depose the leader. It dials
 * back once right after binding; a raftdcs peer that knows it dials it at once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { Nodes, within } from './transport-helpers.js';

const nodes = new Nodes();
afterEach(() => nodes.destroyAll());

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('a node starting while its dialer backs off', () => {
  it('is connected long before the dialer would have tried again', async () => {
    const [a, b] = (await freeLoopbackAddresses(2)) as [string, string];
    const [hi, lo] = a > b ? [a, b] : [b, a];
    const opts = { connectionRetryTimeMs: 10_000 };
    const dialer = await nodes.start(hi, [lo], opts);
    // lo is down: 100 + 200 + 400 + 800 + 1600 ms of failed redials; the next is 3.2 s after the 5th
    await waitFor(
      () => (dialer.transport.peerInfo(lo)?.consecutiveConnectFailures ?? 0) >= 5,
      8000,
      '5 failures',
    );
    const failedAt = Date.now();
    const starting = await nodes.start(lo, [hi], opts);
    await within(dialer.rec.connected(lo, 3000), 3000, 'connection to the starting node');
    const waited = Date.now() - failedAt;
    expect(waited).toBeLessThan(1600); // the dialer's own backoff would have waited 3.2 s
    expect(starting.transport.peerInfo(hi)?.connectAttempts).toBeGreaterThanOrEqual(1); // its dial-back
    expect(dialer.transport.peerInfo(lo)?.direction).toBe('out'); // the pair's usual connection
  });
});
