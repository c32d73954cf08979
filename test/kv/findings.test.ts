/**
 * Defects found while writing the KV acceptance tests, each as the smallest test that shows it.
 * `it.fails` keeps the suite green while the defect stands; when it is fixed the test "fails" —
 * then turn it into a plain `it`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { KvCluster } from './acceptance-helpers.js';

let cluster: KvCluster | null = null;
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

describe('findings', () => {
  // src/raft/syncobj.ts: `raftLastApplied` reads the core's lastApplied, which counts an entry as
  // applied when the core hands it out — the state machine applies it only at the runtime's next
  // drain (a setImmediate later). In between, raftLastApplied ≥ i while the entry's effect is not
  // visible (pysyncobj's raftLastApplied is only advanced by applying). Seen: N3 raftLastApplied 3,
  // N3.get('/k') null, on_set not run yet.
  it('raftLastApplied never runs ahead of the applied state', async () => {
    cluster = await KvCluster.start();
    const { n2, n3 } = cluster;
    const seen: string[] = [];
    for (let round = 0; round < 20 && seen.length === 0; round++) {
      const key = `/k${round}`;
      const r = await n2.kv.set(key, 'v');
      if (r === false) throw new Error('set failed');
      const deadline = Date.now() + 1000;
      while (Date.now() < deadline) {
        const applied = n3.kv.raftLastApplied;
        const visible = n3.kv.get(key) !== null;
        if (applied >= r.index && !visible) {
          seen.push(`N3 raftLastApplied=${applied} ≥ ${r.index} but ${key} not applied yet`);
          break;
        }
        if (visible) break;
        await new Promise((res) => setTimeout(res, 0));
      }
    }
    expect(seen).toEqual([]);
  });
});
