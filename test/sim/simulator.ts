/**
 * The toy mode of the deterministic simulator (the cluster mechanics are cluster.ts): commands are
 * opaque (`c<id>`), a node's state machine is the set of commands it applied, and clients propose
 * at random live nodes (with membership changes on, a voter sometimes proposes adding or removing
 * the spare voter). The Raft SafetyChecker runs after every step; after healing, liveness requires
 * a leader and every acknowledged command applied on every participant. A failing seed replays
 * exactly.
 */
import type { UnsafeTestFaults } from '../../src/raft/core/options.js';
import { CommandType, FailReason, type LogEntry } from '../../src/raft/core/types.js';
import { commandKey, SimViolation } from './checker.js';
import {
  BASE_PROFILE,
  Cluster,
  decodeSimMembership,
  LATE_ASSIGNMENT,
  type SimMode,
  type SimNode,
  type SimProfile,
  simMembershipCommand,
} from './cluster.js';

export { BASE_PROFILE, commandKey, decodeSimMembership, type SimProfile, SimViolation, simMembershipCommand };

export interface SimResult {
  readonly seed: number;
  readonly profile: string;
  readonly steps: number;
  readonly virtualMs: number;
  readonly acked: number;
  readonly proposed: number;
  readonly leadersElected: number;
  readonly crashes: number;
  readonly maxTerm: number;
}

// commands: REGULAR = 0x00 + "c<id>" (membership commands: cluster.ts)

const enc = new TextEncoder();

export function simCommand(id: number): Uint8Array {
  const body = enc.encode(`c${id}`);
  const out = new Uint8Array(body.length + 1);
  out[0] = CommandType.Regular;
  out.set(body, 1);
  return out;
}

/** A node's state machine: the keys (commandKey) of the commands it applied. */
interface ToyApp {
  applied: Set<string>;
}

type ToyNode = SimNode<ToyApp, ReadonlySet<string>>;

class ToyMode implements SimMode<ToyApp, ReadonlySet<string>> {
  readonly label = '';
  readonly coreOptions;
  readonly compactAfterEntries = 40;
  readonly duplicateSubmissions = true;
  readonly membershipFaults = false;
  /** ids of the commands whose proposal succeeded */
  readonly acked = new Set<number>();
  proposed = 0;
  private nextCmd = 1;
  private c!: Cluster<ToyApp, ReadonlySet<string>>;

  constructor(faults: UnsafeTestFaults | undefined) {
    this.coreOptions = {
      appendEntriesBatchSizeBytes: 256,
      snapshotChunkBytes: 64,
      maxSendBytesPerRound: 4096,
      unsafeTestFaults: faults,
    };
  }

  attach(cluster: Cluster<ToyApp, ReadonlySet<string>>): void {
    this.c = cluster;
  }

  newNode(): ToyApp {
    return { applied: new Set() };
  }

  load(n: ToyNode, snapshot: ReadonlySet<string> | null): void {
    n.app.applied = new Set(snapshot ?? []);
  }

  capture(n: ToyNode): ReadonlySet<string> {
    return new Set(n.app.applied);
  }

  apply(n: ToyNode, e: LogEntry): undefined {
    n.app.applied.add(commandKey(e.command));
  }

  // clients: proposals at a random live node, at proposalsPerSecond during chaos, 30% of that after

  startClients(): void {
    const c = this.c;
    const mean = 1000 / c.profile.proposalsPerSecond;
    c.at(c.now + c.rng.range(0, 2 * mean), () => {
      if (!c.healed || c.rng.chance(0.3)) this.proposeRandom();
      if (c.now < c.profile.chaosMs + c.profile.healMs) this.startClients();
    });
  }

  private proposeRandom(): void {
    const c = this.c;
    const live = c.nodes.filter((n) => n.core !== null);
    if (live.length === 0) return;
    const n = c.rng.pick(live);
    if (c.profile.membershipChanges && n.voter && c.rng.chance(0.05)) {
      c.proposeMembershipChange(n);
      return;
    }
    const id = this.nextCmd++;
    this.proposed++;
    c.propose(n, simCommand(id), (_result, reason) => {
      if (reason === FailReason.Success || reason === LATE_ASSIGNMENT) this.acked.add(id);
    });
  }

  // liveness: every acknowledged command applied on every participant

  converged(leader: ToyNode): boolean {
    const participants = this.c.participants(leader);
    for (const id of this.acked) {
      const key = commandKey(simCommand(id));
      for (const n of participants) if (!n.app.applied.has(key)) return false;
    }
    return true;
  }

  livenessDetail(): string[] {
    const missing = [...this.acked].filter((id) =>
      this.c.nodes.some((n) => n.core && !n.app.applied.has(commandKey(simCommand(id)))),
    );
    return missing.length > 0
      ? [`acknowledged commands not applied everywhere: ${missing.slice(0, 10).join(', ')}`]
      : [];
  }
}

export class Simulator {
  constructor(
    readonly seed: number,
    readonly profile: SimProfile,
    private readonly faults?: UnsafeTestFaults,
  ) {}

  run(): SimResult {
    const mode = new ToyMode(this.faults);
    const cluster = new Cluster(this.seed, this.profile, mode);
    cluster.run();
    return {
      seed: this.seed,
      profile: this.profile.name,
      steps: cluster.steps,
      virtualMs: cluster.now,
      acked: mode.acked.size,
      proposed: mode.proposed,
      leadersElected: cluster.checker.leadersElected,
      crashes: cluster.crashes,
      maxTerm: cluster.maxTerm,
    };
  }
}
