/**
 * The KV simulation in CI (kv-simulator.ts, kv-checker.ts): RAFTDCS_KV_SIM_SEEDS seeds (default
 * 500), each with its own swarm profile (profiles.ts), plus every named profile, every key's history linearizable, replicas identical at
 * every index, the replay of the committed log equal to the model; and proof that the checks can
 * fail: broken apply rules, divergent replicas and broken models must be caught.
 */
import { describe, expect, it } from 'vitest';
import { type KvSimOptions, type KvSimResult, KvSimulator } from './kv-simulator.js';
import { PROFILES, profileFor } from './profiles.js';
import { SimViolation } from './simulator.js';

const SEEDS = Number(process.env.RAFTDCS_KV_SIM_SEEDS ?? 500);
const FIRST = Number(process.env.RAFTDCS_KV_SIM_FIRST_SEED ?? 1);
const CHUNK = 50;

describe('KV simulation: linearizable KVStoreTTL under the fault profiles', () => {
  for (let start = FIRST; start < FIRST + SEEDS; start += CHUNK) {
    const end = Math.min(FIRST + SEEDS, start + CHUNK) - 1;
    it(`seeds ${start}..${end} (each seed its own swarm profile)`, async () => {
      let acked = 0;
      let silent = 0;
      for (let seed = start; seed <= end; seed++) {
        const r = await new KvSimulator(seed, profileFor(seed)).run();
        // a run without a leader would prove nothing, a chunk without writes neither; a seed whose
        // faults keep a majority down through the chaos acknowledges few or none (seed 276: pauses
        // and crashes every 500 ms on 4 voters, no leader until after the heal)
        expect(r.leadersElected, `seed ${seed}`).toBeGreaterThan(0);
        if (r.acked < 5) silent++;
        acked += r.acked;
      }
      // over seeds 1..500: ~73 acknowledged writes per seed, no chunk of 50 below 56; 6 seeds with
      // fewer than 5, one with none
      expect(acked / (end - start + 1)).toBeGreaterThan(35);
      expect(silent).toBeLessThan(10);
    });
  }

  it('the runs exercise every kind of outcome, expiry and fault', async () => {
    const total: Record<string, number> = {};
    const add = (r: KvSimResult) => {
      for (const k of ['acked', 'unknown', 'precheckFalse', 'reads', 'expiresIssued', 'crashes'] as const) {
        total[k] = (total[k] ?? 0) + r[k];
      }
    };
    for (const [name, profile] of Object.entries(PROFILES)) {
      let acked = 0;
      for (let seed = 1; seed <= 3; seed++) {
        const r = await new KvSimulator(seed, profile).run();
        acked += r.acked;
        add(r);
      }
      expect(acked, name).toBeGreaterThan(50);
    }
    for (const k of ['unknown', 'precheckFalse', 'reads', 'expiresIssued', 'crashes']) {
      expect(total[k], k).toBeGreaterThan(0);
    }
  });

  it('high contention: one key, eight clients', async () => {
    for (let seed = FIRST; seed < FIRST + 40; seed++) {
      const r = await new KvSimulator(seed, profileFor(seed), { keys: 1, clients: 8 }).run();
      expect(r.acked, `seed ${seed}`).toBeGreaterThan(10);
    }
  });

  it('replays a seed exactly', async () => {
    const a = await new KvSimulator(77, PROFILES.lossy!).run();
    const b = await new KvSimulator(77, PROFILES.lossy!).run();
    expect(b).toEqual(a);
  });
});

async function firstViolation(options: KvSimOptions, maxSeeds = 30): Promise<SimViolation | undefined> {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    try {
      await new KvSimulator(seed, profileFor(seed), options).run();
    } catch (e) {
      if (e instanceof SimViolation) return e;
      throw e;
    }
  }
  return undefined;
}

describe('KV simulation: the checks can fail', () => {
  it('an apply rule that ignores prevValue on every node is not linearizable', async () => {
    const v = await firstViolation({ applyFault: 'ignorePrevValue', checkApplyConformance: false });
    expect(v?.property).toBe('linearizability');
    expect(v?.message).toMatch(/replay: npm run sim -- --profile \w+ --kv --seed \d+/);
  });

  it('an apply rule that ignores prevIndex on every node is not linearizable', async () => {
    expect(
      (await firstViolation({ applyFault: 'ignorePrevIndex', checkApplyConformance: false }))?.property,
    ).toBe('linearizability');
  });

  it('the replay of the committed log through the model catches a broken apply rule too', async () => {
    expect((await firstViolation({ applyFault: 'ignorePrevValue' }))?.property).toBe('apply conformance');
  });

  it('a replica applying differently breaks State Machine Safety on the KV state', async () => {
    expect((await firstViolation({ applyFault: 'divergentN2' }))?.property).toBe(
      'State Machine Safety (KV state)',
    );
  });

  it("a wrong model (prevValue ignored, created never adjusted) rejects a correct system's history", async () => {
    for (const modelFaults of [{ ignorePrevValue: true }, { keepSubmittedCreated: true }]) {
      const v = await firstViolation({ modelFaults, checkApplyConformance: false });
      expect(v?.property, JSON.stringify(modelFaults)).toBe('linearizability');
    }
  });

  it('reads checked for monotonicity across nodes (not promised: they are local) fail the committed-prefix check', async () => {
    expect((await firstViolation({ sessionsSpanNodes: true }))?.property).toBe(
      'committed-prefix consistency',
    );
  });

  it('reads are local in Patroni: checked as linearizable, a stale read is found', async () => {
    expect((await firstViolation({ strictReads: true }))?.property).toBe('linearizability');
  });

  it('a core granting two votes per term is caught in KV mode too', async () => {
    expect((await firstViolation({ coreFaults: { grantTwoVotesPerTerm: true } }, 200))?.property).toBe(
      'Election Safety',
    );
  });
});
