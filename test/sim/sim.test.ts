/**
 * The deterministic simulator in CI: ≥ 1,000 seeds (RAFTDCS_SIM_SEEDS to change), rotating over
 * the fault profiles, zero violations allowed; and proof that the checks can fail: deliberately
 * broken cores (test-only flags) must be caught.
 */
import { describe, expect, it } from 'vitest';
import type { UnsafeTestFaults } from '../../src/raft/core/options.js';
import { PROFILES, profileFor, ROTATION } from './profiles.js';
import { Simulator, SimViolation } from './simulator.js';

const SEEDS = Number(process.env.RAFTDCS_SIM_SEEDS ?? 1000);
const FIRST = Number(process.env.RAFTDCS_SIM_FIRST_SEED ?? 1);
const CHUNK = 125;

describe('simulator: safety and liveness over many seeds', () => {
  for (let start = FIRST; start < FIRST + SEEDS; start += CHUNK) {
    const end = Math.min(FIRST + SEEDS, start + CHUNK) - 1;
    it(`seeds ${start}..${end} (profiles ${ROTATION.join(', ')})`, async () => {
      for (let seed = start; seed <= end; seed++) {
        const result = await new Simulator(seed, profileFor(seed)).run();
        // a run that proposes nothing or elects nobody would prove nothing
        expect(result.leadersElected, `seed ${seed}`).toBeGreaterThan(0);
      }
    });
  }

  it('every profile makes progress and exercises its faults', async () => {
    for (const [name, profile] of Object.entries(PROFILES)) {
      let acked = 0;
      let crashes = 0;
      for (let seed = 1; seed <= 4; seed++) {
        const r = await new Simulator(seed, profile).run();
        acked += r.acked;
        crashes += r.crashes;
      }
      expect(acked, name).toBeGreaterThan(100);
      if (profile.crashes) expect(crashes, name).toBeGreaterThan(0);
    }
  });

  it('replays a seed exactly', async () => {
    const a = await new Simulator(77, PROFILES.lossy!).run();
    const b = await new Simulator(77, PROFILES.lossy!).run();
    expect(b).toEqual(a);
  });
});

async function firstViolation(
  fault: UnsafeTestFaults,
  profile: string,
  maxSeeds: number,
): Promise<SimViolation | undefined> {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    try {
      await new Simulator(seed, PROFILES[profile]!, fault).run();
    } catch (e) {
      if (e instanceof SimViolation) return e;
      throw e;
    }
  }
  return undefined;
}

describe('simulator: a deliberately broken core is caught', () => {
  it('granting two votes in one term breaks Election Safety', async () => {
    const v = await firstViolation({ grantTwoVotesPerTerm: true }, 'lossy', 200);
    expect(v?.property).toBe('Election Safety');
    expect(v?.message).toMatch(/replay: npm run sim -- --profile lossy --seed \d+/);
  });

  it('forgetting term and vote across restarts breaks safety', async () => {
    const v = await firstViolation({ skipPersistHardState: true }, 'base', 200);
    expect(v).toBeInstanceOf(SimViolation);
    expect(['Election Safety', 'Log Matching', 'Leader Completeness', 'State Machine Safety']).toContain(
      v?.property,
    );
  });
});
