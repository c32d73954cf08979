/**
 * Command line for the simulator: `npm run sim -- --seeds 5000`, `npm run sim -- --seed 42`,
 * `npm run sim -- --profile lossy --seeds 200 --from 1000`. `--kv` runs the KV mode (KVStoreTTL
 * state machines, clients, linearizability checks: kv-simulator.ts) instead of the toy commands.
 */
import { parseArgs } from 'node:util';
import { KvSimulator } from './kv-simulator.js';
import { profileFor } from './profiles.js';
import { Simulator, SimViolation } from './simulator.js';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    seeds: { type: 'string', default: '100' },
    from: { type: 'string', default: '1' },
    profile: { type: 'string' },
    verbose: { type: 'boolean', default: false },
    kv: { type: 'boolean', default: false },
  },
});

const seeds: number[] = [];
if (values.seed !== undefined) seeds.push(Number(values.seed));
else {
  const from = Number(values.from);
  for (let i = 0; i < Number(values.seeds); i++) seeds.push(from + i);
}

const t0 = performance.now();
let failures = 0;
let steps = 0;
for (const seed of seeds) {
  const profile = profileFor(seed, values.profile);
  try {
    if (values.kv) {
      const r = await new KvSimulator(seed, profile).run();
      steps += r.steps;
      if (values.verbose || seeds.length === 1) {
        console.log(
          `seed ${seed} [${r.profile} --kv]: ok — ${r.steps} steps, ${(r.virtualMs / 1000).toFixed(1)} s virtual, ` +
            `${r.ops} ops (${r.acked} acked, ${r.unknown} unknown, ${r.precheckFalse} rejected locally, ` +
            `${r.reads} reads), ${r.expiresIssued} expires issued, ${r.committedEntries} KV entries, ` +
            `${r.leadersElected} leaders, ${r.crashes} crashes, ${r.searchSteps} search steps`,
        );
      }
      continue;
    }
    const r = await new Simulator(seed, profile).run();
    steps += r.steps;
    if (values.verbose || seeds.length === 1) {
      console.log(
        `seed ${seed} [${r.profile}]: ok — ${r.steps} steps, ${(r.virtualMs / 1000).toFixed(1)} s virtual, ` +
          `${r.acked}/${r.proposed} acked, ${r.leadersElected} leaders, ${r.crashes} crashes, max term ${r.maxTerm}`,
      );
    }
  } catch (e) {
    failures++;
    if (e instanceof SimViolation) console.error(`\nFAIL ${e.message}\n`);
    else {
      console.error(`\nFAIL seed ${seed} [${profile.name}] crashed: ${(e as Error).stack}`);
      console.error(
        `replay: npm run sim -- --profile ${profile.name}${values.kv ? ' --kv' : ''} --seed ${seed}\n`,
      );
    }
  }
}
const secs = (performance.now() - t0) / 1000;
console.log(`${seeds.length} seeds, ${failures} failed, ${steps} steps in ${secs.toFixed(1)} s`);
process.exit(failures > 0 ? 1 : 0);
