import { profileFor } from './profiles.js';
import { Simulator } from './simulator.js';

const from = Number(process.argv[2] ?? 1);
const prof = process.argv[3] === 'swarm' ? undefined : process.argv[3];
for (let s = from; s < from + 150; s++)
  await new Simulator(s, profileFor(s, prof), { acceptSnapshotDuringInstall: true })
    .run()
    .catch((e) => console.log(String(e).slice(0, 300)));
console.log(prof, JSON.stringify((globalThis as unknown as { KC: unknown }).KC));
