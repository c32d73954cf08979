/** Named simulation profiles: the fault mixes CI runs (each seed picks one profile by rotation). */
import { BASE_PROFILE, type SimProfile } from './cluster.js';

export const PROFILES: Record<string, SimProfile> = {
  base: BASE_PROFILE,
  five: { ...BASE_PROFILE, name: 'five', voters: 5, chaosMs: 10_000 },
  tcp: { ...BASE_PROFILE, name: 'tcp', fifo: true, dropRate: 0, dupRate: 0 },
  readonly: { ...BASE_PROFILE, name: 'readonly', readonlyNodes: 1 },
  lossy: { ...BASE_PROFILE, name: 'lossy', dropRate: 0.25, dupRate: 0.1, maxDelayMs: 120, faultEveryMs: 800 },
  fsync: { ...BASE_PROFILE, name: 'fsync', fsyncMinMs: 0.5, fsyncMaxMs: 8, tornWrites: true },
  membership: { ...BASE_PROFILE, name: 'membership', membershipChanges: true, proposalsPerSecond: 60 },
  compaction: { ...BASE_PROFILE, name: 'compaction', compactAfterEntries: 40, proposalsPerSecond: 80 },
};

/** The rotation CI uses: seed s runs ROTATION[s % length]. */
export const ROTATION: readonly string[] = [
  'base',
  'five',
  'tcp',
  'readonly',
  'lossy',
  'fsync',
  'membership',
  'compaction',
];

export function profileFor(seed: number, name?: string): SimProfile {
  const key = name ?? (ROTATION[seed % ROTATION.length] as string);
  const p = PROFILES[key];
  if (!p) throw new Error(`unknown simulation profile '${key}' (known: ${Object.keys(PROFILES).join(', ')})`);
  return p;
}
