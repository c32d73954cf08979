/**
 * The toy mode of the deterministic simulator (the world is cluster.ts): every node is a real
 * SyncObj subclass (`ToyNode`) whose one replicated method records `(index, command id)` — a state
 * that is not idempotent, so an entry applied twice, skipped, or lost under a snapshot shows. Clients
 * call it at random live nodes through the public API (with membership changes on, a voter sometimes
 * adds or removes the spare voter). The Raft SafetyChecker runs after every event; every apply is
 * checked against the node's own state; after healing, liveness requires a leader, every
 * acknowledged command applied on every participant, and identical states everywhere. A failing seed
 * replays exactly.
 */
import { decodeMethodCall } from '../../src/raft/commands.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import type { UnsafeTestFaults } from '../../src/raft/core/options.js';
import { CommandType, FailReason, type LogEntry } from '../../src/raft/core/types.js';
import { type ReplicatedCall, replicated } from '../../src/raft/replicated.js';
import { SyncObj, type SyncObjDeps } from '../../src/raft/syncobj.js';
import type { PyDictKey, PyValue } from '../../src/wire/value.js';
import { commandKey, SimViolation } from './checker.js';
import { BASE_PROFILE, Cluster, type SimMode, type SimNode, type SimProfile } from './cluster.js';

export { BASE_PROFILE, commandKey, type SimProfile, SimViolation };

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
  readonly transfersRequested: number;
  readonly transfersCompleted: number;
}

/** The toy state machine: the commands applied, as `(index, id)` in apply order. */
export class ToyNode extends SyncObj {
  /** flat pairs: index, id, index, id, … */
  applied: number[] = [];

  @replicated({ name: 'cmd' })
  cmd(call: ReplicatedCall): number {
    const id = call.args[0] as number;
    this.applied.push(call.index, id);
    return id;
  }

  /** Call `cmd(id)` through the public API; `done` gets pysyncobj's callback arguments. */
  propose(id: number, done: (result: PyValue | undefined, reason: number) => void): void {
    this.callWithCallback(this.cmd, [id], undefined, done);
  }

  protected override serializeAttributes(): Map<PyDictKey, PyValue> {
    const m = super.serializeAttributes();
    m.set('applied', [...this.applied]);
    return m;
  }

  protected override restoreAttributes(data: Map<PyDictKey, PyValue>): void {
    super.restoreAttributes(data);
    const a = data.get('applied');
    this.applied = Array.isArray(a) ? (a as number[]).slice() : [];
  }
}

type ToySimNode = SimNode<ToyNode>;

/** how long clients keep proposing after the network healed */
const CLIENTS_AFTER_HEAL_MS = 1500;

class ToyMode implements SimMode<ToyNode> {
  readonly label = '';
  readonly tuning;
  readonly membershipFaults = false;
  /** ids of the commands whose call succeeded */
  readonly acked = new Set<number>();
  proposed = 0;
  private nextCmd = 1;
  private c!: Cluster<ToyNode>;

  constructor(faults: UnsafeTestFaults | undefined) {
    this.tuning = {
      appendEntriesBatchSizeBytes: 256,
      snapshotChunkBytes: 64,
      maxSendBytesPerRound: 4096,
      unsafeTestFaults: faults,
    };
  }

  mayDuplicate(): boolean {
    return true;
  }

  attach(cluster: Cluster<ToyNode>): void {
    this.c = cluster;
  }

  create(
    _n: ToySimNode,
    selfAddress: string | null,
    partners: readonly string[],
    conf: SyncObjConfOptions,
    deps: SyncObjDeps,
  ): ToyNode {
    return new ToyNode(selfAddress, partners, conf, { deps });
  }

  /** the toy state of the modelled pysyncobj followers (they run no ToyNode) */
  private readonly pythonStates = new Map<ToySimNode, number[]>();

  private stateOf(n: ToySimNode): number[] {
    if (n.obj) return n.obj.applied;
    let a = this.pythonStates.get(n);
    if (!a) {
      a = [];
      this.pythonStates.set(n, a);
    }
    return a;
  }

  onPythonSnapshot(n: ToySimNode, data: PyValue, _lastEntry: LogEntry): void {
    const a = data instanceof Map ? data.get('applied') : undefined;
    this.pythonStates.set(n, Array.isArray(a) ? (a as number[]).slice() : []);
  }

  /** An entry was applied: the state machine holds it once, after everything before it. */
  onApplied(n: ToySimNode, e: LogEntry): void {
    if (e.command[0] !== CommandType.Regular) return;
    if (n.py) this.stateOf(n).push(e.index, decodeMethodCall(e.command).args[0] as number);
    const a = this.stateOf(n);
    const last = a[a.length - 2];
    const before = a[a.length - 4];
    if (last !== e.index) {
      this.c.fail('State Machine Safety', `${n.id} applied entry ${e.index} but its state ends with ${last}`);
    }
    if (before !== undefined && before >= e.index) {
      this.c.fail(
        'State Machine Safety',
        `${n.id} applies entry ${e.index} to a state that already holds entry ${before}`,
      );
    }
  }

  /** A snapshot was loaded: its state holds nothing past the snapshot's last entry. */
  onSnapshotInstalled(n: ToySimNode, lastEntry: LogEntry): void {
    const a = (n.obj as ToyNode).applied;
    const last = a[a.length - 2];
    if (last !== undefined && last > lastEntry.index) {
      this.c.fail(
        'State Machine Safety',
        `${n.id} loaded a snapshot at ${lastEntry.index} whose state holds entry ${last}`,
      );
    }
  }

  // clients: proposals at a random live node, at proposalsPerSecond during chaos, 30% of that for
  // the first seconds after healing, then none (convergence is judged on a quiet cluster)

  startClients(): void {
    const c = this.c;
    const mean = 1000 / c.profile.proposalsPerSecond;
    c.at(c.now + c.rng.range(0, 2 * mean), () => {
      if (!c.healed || c.rng.chance(0.3)) this.proposeRandom();
      if (c.now < c.profile.chaosMs + CLIENTS_AFTER_HEAL_MS) this.startClients();
    });
  }

  private proposeRandom(): void {
    const c = this.c;
    const live = c.nodes.filter((n) => n.obj !== null && n.core !== null);
    if (live.length === 0) return;
    const n = c.rng.pick(live);
    if (c.profile.membershipChanges && n.voter && c.rng.chance(0.05)) {
      c.proposeMembershipChange(n);
      return;
    }
    const id = this.nextCmd++;
    this.proposed++;
    (n.obj as ToyNode).propose(id, (_result, reason) => {
      if (reason === FailReason.Success) this.acked.add(id);
    });
  }

  // liveness: every acknowledged command applied on every participant, identical states

  converged(leader: ToySimNode): boolean {
    const participants = this.c.participants(leader);
    const want = this.stateOf(leader);
    const ids = new Set<number>();
    for (let i = 1; i < want.length; i += 2) ids.add(want[i] as number);
    for (const id of this.acked) if (!ids.has(id)) return false;
    for (const n of participants) {
      const a = this.stateOf(n);
      if (a.length !== want.length) return false;
      for (let i = 0; i < a.length; i++) {
        if (a[i] !== want[i]) {
          this.c.fail(
            'State Machine Safety',
            `${n.id} and the leader ${leader.id} applied the log to different states (from position ${i >> 1})`,
          );
        }
      }
    }
    return true;
  }

  livenessDetail(): string[] {
    const leader = this.c.currentLeader();
    const ids = new Set<number>();
    const a = leader?.obj?.applied ?? [];
    for (let i = 1; i < a.length; i += 2) ids.add(a[i] as number);
    const missing = [...this.acked].filter((id) => !ids.has(id));
    return missing.length > 0
      ? [`acknowledged commands the leader has not applied: ${missing.slice(0, 10).join(', ')}`]
      : [];
  }
}

export class Simulator {
  constructor(
    readonly seed: number,
    readonly profile: SimProfile,
    private readonly faults?: UnsafeTestFaults,
  ) {}

  async run(): Promise<SimResult> {
    const mode = new ToyMode(this.faults);
    const cluster = new Cluster(this.seed, this.profile, mode);
    await cluster.run();
    return {
      seed: this.seed,
      profile: this.profile.name,
      steps: cluster.steps,
      virtualMs: cluster.now,
      acked: mode.acked.size,
      proposed: mode.proposed,
      leadersElected: cluster.checker.leadersElected,
      crashes: cluster.crashes,
      transfersRequested: cluster.transfersRequested,
      transfersCompleted: cluster.transfersCompleted,
      maxTerm: cluster.maxTerm,
    };
  }
}

/** Command keys of the toy mode's entries, for tests that look at logs. */
export function entryKey(e: LogEntry): string {
  return commandKey(e.command);
}
