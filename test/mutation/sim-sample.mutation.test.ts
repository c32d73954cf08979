/**
 * A short sample of the simulator for mutation testing (`npm run mutation:core`): 24 seeds of swarm
 * histories over real SyncObj nodes, six per test so that a mutant the first seeds catch is killed
 * fast. The full campaign (`test/sim/sim.test.ts`, `npm run sim`) is far larger; this sample is
 * what each of the core's mutants has to survive besides the core's own unit tests.
 */
import { describe, expect, it } from 'vitest';
import { profileFor } from '../sim/profiles.js';
import { Simulator } from '../sim/simulator.js';

describe('simulator sample (mutation testing)', () => {
  for (let start = 1; start <= 24; start += 6) {
    it(`seeds ${start}..${start + 5}`, async () => {
      for (let seed = start; seed < start + 6; seed++) {
        const result = await new Simulator(seed, profileFor(seed)).run();
        expect(result.leadersElected, `seed ${seed}`).toBeGreaterThan(0);
        expect(result.acked, `seed ${seed}`).toBeGreaterThan(0);
      }
    });
  }
});
