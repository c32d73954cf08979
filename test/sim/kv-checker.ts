/**
 * Checks of the KV simulation (kv-simulator.ts):
 *
 *  - State Machine Safety on the KV state: every node applies the same command bytes at an index,
 *    and every node's whole map (keys in order, records) is identical at equal applied index —
 *    also when the state came from a snapshot;
 *  - apply conformance: replaying the committed log through the reference model (kv-model.ts)
 *    gives, index by index, the state the nodes reached;
 *  - linearizability of every key's history of writes (set / delete / recursive delete / the
 *    leaders' expires) against the model, by a Wing–Gong/Lowe search (kv-linearizability.ts).
 *    Each submission round of an operation is a possible application; an operation with an unknown
 *    outcome may take effect after its invocation or not at all. From the committed log the checker
 *    takes only how often a command was applied (a round that never reached the log cannot have
 *    taken effect) and, for sets whose index the client never saw, which indexes they can have had;
 *  - acknowledged results are genuine: a record's index is an index its command was applied at,
 *    no two acknowledged records share an index, no command is applied more often than submitted;
 *  - reads and local CAS rejections are local in Patroni (never linearizable by design): each must
 *    match the key's state after some committed prefix of the log no newer than the commit index
 *    at that moment, no older than what the same client saw or wrote earlier on the same node life
 *    (no dirty reads, monotonic reads, read-your-writes). `strictReads` puts the reads into the
 *    linearizability search instead (expected to fail: they are stale on followers).
 */
import type { CasConditions } from '../../src/kv/record.js';
import type { LogEntry } from '../../src/raft/core/types.js';
import { SimViolation } from './checker.js';
import {
  checkLinearizable,
  describeHistory,
  type LinCommand,
  type LinOp,
  type LinOutput,
} from './kv-linearizability.js';
import {
  type Cas,
  casHolds,
  decodeModelCommand,
  type ModelFaults,
  ModelMap,
  type ModelRecord,
  sameRecord,
  stateText,
} from './kv-model.js';

export interface KvCheckOptions {
  /** a deliberately wrong reference model (the checks must then fail) */
  readonly modelFaults?: ModelFaults;
  /** compare the nodes' states with the model's replay of the committed log (default true) */
  readonly checkApplyConformance?: boolean;
  /** put reads into the linearizability search (they are local: expected to fail) */
  readonly strictReads?: boolean;
  /** search budget per key (default 2,000,000 steps) */
  readonly maxSearchSteps?: number;
}

export interface ClientOp {
  readonly id: number;
  readonly client: number;
  readonly node: string;
  /** client + node + node incarnation: what session guarantees are scoped to */
  readonly session: string;
  kind: 'read' | 'set' | 'delete' | 'rdelete' | 'pydelete';
  readonly key: string;
  readonly invoke: number;
  /** null while pending; +∞ for an unknown outcome */
  response: number | null;
  /** the submitted command (null for reads and local rejections) */
  command: Uint8Array | null;
  /** submissions made */
  rounds: number;
  outcome: 'pending' | 'ok' | 'unknown' | 'precheck-false';
  /** set: record | false; delete: boolean; read: record | null */
  result: ModelRecord | boolean | null | undefined;
  cas: CasConditions;
  /** for local rejections: the record the node held (white box, for reports only) */
  observed?: ModelRecord | null;
  /** the highest commit index of any node when the operation returned */
  commitBound?: number;
  finishedAt?: number;
}

export interface ExpireIssue {
  readonly key: string;
  readonly command: Uint8Array;
  readonly invoke: number;
}

export interface KvHistory {
  readonly ops: ClientOp[];
  readonly expires: ExpireIssue[];
}

export interface KvCheckReport {
  readonly committedEntries: number;
  readonly searchSteps: number;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export class KvChecker {
  private readonly commands = new Map<number, Uint8Array>();
  private readonly states = new Map<number, string>();
  private maxIndex = 1;

  constructor(
    readonly seed: number,
    readonly profileName: string,
    readonly options: KvCheckOptions = {},
  ) {}

  private fail(now: number, property: string, detail: string): never {
    throw new SimViolation(this.seed, this.profileName, now, property, detail);
  }

  /** After node `id` applied `e`: its whole KV state is `state`. */
  onApply(id: string, e: LogEntry, state: string, now: number): void {
    const prior = this.commands.get(e.index);
    if (prior === undefined) {
      this.commands.set(e.index, e.command);
      this.states.set(e.index, state);
      if (e.index > this.maxIndex) this.maxIndex = e.index;
      return;
    }
    if (hex(prior) !== hex(e.command)) {
      this.fail(now, 'State Machine Safety', `${id} applies another command at ${e.index}`);
    }
    const s = this.states.get(e.index);
    if (s !== state) {
      this.fail(
        now,
        'State Machine Safety (KV state)',
        `${id} after applying ${e.index} holds\n  ${state}\nanother node held\n  ${s}`,
      );
    }
  }

  onSnapshotInstalled(id: string, index: number, state: string): void {
    const s = this.states.get(index);
    if (s !== undefined && s !== state) {
      this.fail(
        -1,
        'State Machine Safety (KV state)',
        `${id} installs a snapshot at ${index} holding\n  ${state}\nexpected\n  ${s}`,
      );
    }
  }

  finish(
    history: KvHistory,
    finalStates: readonly { id: string; appliedIndex: number; state: string }[],
  ): KvCheckReport {
    const faults = this.options.modelFaults ?? {};
    // ---- replay the committed log through the model
    const model = new ModelMap(faults);
    const changes = new Map<string, { index: number; rec: ModelRecord | null }[]>();
    const occurrences = new Map<string, number[]>();
    let committedEntries = 0;
    for (let i = 2; i <= this.maxIndex; i++) {
      const command = this.commands.get(i);
      if (command === undefined) this.fail(-1, 'checker', `index ${i} was never applied by any node`);
      const cmd = decodeModelCommand(command);
      if (cmd !== null) {
        committedEntries++;
        const h = hex(command);
        const list = occurrences.get(h) ?? [];
        list.push(i);
        occurrences.set(h, list);
        const before = new Map(model.data);
        model.apply(cmd, i);
        for (const k of new Set([...before.keys(), ...model.data.keys()])) {
          const a = before.get(k) ?? null;
          const b = model.data.get(k) ?? null;
          if (!sameRecord(a, b)) {
            const l = changes.get(k) ?? [{ index: 0, rec: null }];
            l.push({ index: i, rec: b });
            changes.set(k, l);
          }
        }
      }
      if (this.options.checkApplyConformance !== false) {
        const expected = stateText(model.data);
        if (this.states.get(i) !== expected) {
          this.fail(
            -1,
            'apply conformance',
            `after index ${i} the nodes held\n  ${this.states.get(i)}\nthe model's replay of the committed log gives\n  ${expected}`,
          );
        }
      }
    }
    for (const f of finalStates) {
      const expected = this.states.get(f.appliedIndex);
      if (f.appliedIndex !== this.maxIndex || f.state !== expected) {
        this.fail(
          -1,
          'State Machine Safety (KV state)',
          `${f.id} ends at ${f.appliedIndex} (last committed ${this.maxIndex}) holding ${f.state}; expected ${expected}`,
        );
      }
    }

    // ---- acknowledged results are genuine
    const rounds = new Map<string, number>();
    for (const op of history.ops)
      if (op.command) rounds.set(hex(op.command), (rounds.get(hex(op.command)) ?? 0) + op.rounds);
    for (const e of history.expires) rounds.set(hex(e.command), (rounds.get(hex(e.command)) ?? 0) + 1);
    for (const [h, occ] of occurrences) {
      const r = rounds.get(h) ?? 0;
      if (occ.length > r) {
        this.fail(-1, 'phantom command', `a command applied at ${occ.join(', ')} was submitted ${r} time(s)`);
      }
    }
    // applications of a command no acknowledgement accounts for (commands of deletes and expires
    // can be byte-identical across operations: then they share these)
    const unaccounted = new Map<string, number>();
    for (const [h, occ] of occurrences) unaccounted.set(h, occ.length);
    for (const op of history.ops) {
      if (op.command && op.outcome === 'ok') {
        const h = hex(op.command);
        unaccounted.set(h, (unaccounted.get(h) ?? 0) - 1);
      }
    }
    const ackedIndex = new Map<number, number>();
    for (const op of history.ops) {
      if (op.outcome !== 'ok' || op.kind !== 'set' || op.result === false || op.result === null) continue;
      const r = op.result as ModelRecord;
      const occ = occurrences.get(hex(op.command as Uint8Array)) ?? [];
      if (!occ.includes(r.index)) {
        this.fail(
          -1,
          'result provenance',
          `op ${op.id} acknowledged index ${r.index}; its command was applied at [${occ.join(', ')}]`,
        );
      }
      const other = ackedIndex.get(r.index);
      if (other !== undefined)
        this.fail(
          -1,
          'result provenance',
          `ops ${other} and ${op.id} acknowledged the same index ${r.index}`,
        );
      ackedIndex.set(r.index, op.id);
    }

    // ---- linearizability per key
    const perKey = new Map<string, LinOp[]>();
    const add = (key: string, op: LinOp) => {
      const l = perKey.get(key) ?? [];
      l.push(op);
      perKey.set(key, l);
    };
    for (const op of history.ops) {
      if (op.kind === 'read') {
        if (this.options.strictReads && op.outcome === 'ok') {
          add(op.key, {
            label: `op ${op.id} (client ${op.client} read on ${op.node})`,
            invoke: op.invoke,
            response: op.response as number,
            cmd: { kind: 'read' },
            output: { type: 'read', result: op.result as ModelRecord | null },
          });
        }
        continue;
      }
      if (op.command === null) continue;
      const cmd = decodeModelCommand(op.command);
      if (cmd === null || cmd.key !== op.key)
        this.fail(-1, 'checker', `op ${op.id}: command does not decode`);
      const lin: LinCommand =
        cmd.kind === 'set'
          ? { kind: 'set', record: cmd.record, cas: cmd.cas }
          : cmd.kind === 'delete'
            ? { kind: 'delete', recursive: cmd.recursive, cas: cmd.cas }
            : { kind: 'expire', record: cmd.record };
      const occ = occurrences.get(hex(op.command)) ?? [];
      const acked = op.outcome === 'ok';
      let candidates = occ;
      if (acked) {
        const output: LinOutput =
          cmd.kind === 'set'
            ? { type: 'set', result: op.result as ModelRecord | false }
            : { type: 'delete', result: op.result as boolean };
        if (cmd.kind === 'set' && op.result !== false) {
          const idx = (op.result as ModelRecord).index;
          candidates = occ.filter((i) => i !== idx);
        }
        add(op.key, {
          label: `op ${op.id} (client ${op.client} ${op.kind} on ${op.node})`,
          invoke: op.invoke,
          response: op.response as number,
          cmd: lin,
          output,
        });
      }
      const unknown = Math.max(
        0,
        Math.min(op.rounds - (acked ? 1 : 0), unaccounted.get(hex(op.command)) ?? 0),
      );
      for (let u = 0; u < unknown; u++) {
        add(op.key, {
          label: `op ${op.id} (client ${op.client} ${op.kind} on ${op.node}, ${acked ? 'another round' : 'unknown outcome'})`,
          invoke: op.invoke,
          response: Number.POSITIVE_INFINITY,
          cmd: lin,
          output: { type: 'unknown' },
          ...(cmd.kind === 'set' ? { indexCandidates: candidates } : {}),
        });
      }
    }
    const expireGroups = new Map<string, ExpireIssue[]>();
    for (const e of history.expires) {
      const l = expireGroups.get(hex(e.command)) ?? [];
      l.push(e);
      expireGroups.set(hex(e.command), l);
    }
    for (const [h, issues] of expireGroups) {
      const occ = occurrences.get(h) ?? [];
      const first = issues[0] as ExpireIssue;
      const cmd = decodeModelCommand(first.command);
      if (cmd === null || cmd.kind !== 'expire') this.fail(-1, 'checker', 'an expire does not decode');
      const n = Math.min(issues.length, occ.length);
      for (let u = 0; u < n; u++) {
        add(first.key, {
          label: `expire of ${first.key} (${cmd.record.value}) issued at ${first.invoke.toFixed(1)} ms`,
          invoke: Math.min(...issues.map((x) => x.invoke)),
          response: Number.POSITIVE_INFINITY,
          cmd: { kind: 'expire', record: cmd.record },
          output: { type: 'unknown' },
        });
      }
    }
    let searchSteps = 0;
    for (const [key, ops] of perKey) {
      const r = checkLinearizable(ops, { maxSteps: this.options.maxSearchSteps, faults });
      searchSteps += r.steps;
      if (!r.ok) {
        this.fail(
          -1,
          r.inconclusive ? 'linearizability (inconclusive)' : 'linearizability',
          `key ${key}: ${r.detail}\nhistory of ${key} (${ops.length} operations):\n${describeHistory(ops)}`,
        );
      }
    }

    // ---- reads and local rejections: committed-prefix consistency per session
    if (!this.options.strictReads) this.checkLocalObservations(history, changes, faults);
    return { committedEntries, searchSteps };
  }

  private checkLocalObservations(
    history: KvHistory,
    changes: Map<string, { index: number; rec: ModelRecord | null }[]>,
    faults: ModelFaults,
  ): void {
    const floor = new Map<string, number>(); // session → lowest prefix still possible
    const ops = [...history.ops].sort((a, b) => a.invoke - b.invoke || a.id - b.id);
    for (const op of ops) {
      const lo = floor.get(op.session) ?? 0;
      if (op.kind === 'set' && op.outcome === 'ok' && op.result !== false && op.result !== null) {
        // read-your-writes: the node applied this record before acknowledging it
        floor.set(op.session, Math.max(lo, (op.result as ModelRecord).index));
        continue;
      }
      const isRead = op.kind === 'read' && op.outcome === 'ok';
      if (!isRead && op.outcome !== 'precheck-false') continue;
      const hi = op.commitBound ?? Number.POSITIVE_INFINITY;
      const list = changes.get(op.key) ?? [{ index: 0, rec: null }];
      const pred = isRead
        ? (s: ModelRecord | null) => sameRecord(s, op.result as ModelRecord | null)
        : (s: ModelRecord | null) => !casHolds(s, op.cas as Cas, faults);
      // candidate prefixes: lo itself, then every change of the key up to hi
      let chosen = -1;
      let cur: ModelRecord | null = null;
      for (const c of list) if (c.index <= lo) cur = c.rec;
      if (pred(cur)) chosen = lo;
      else {
        for (const c of list) {
          if (c.index <= lo) continue;
          if (c.index > hi) break;
          if (pred(c.rec)) {
            chosen = c.index;
            break;
          }
        }
      }
      if (chosen < 0) {
        const what = isRead
          ? `read ${JSON.stringify(op.result)}`
          : `rejected ${JSON.stringify(op.cas)} locally (node held ${JSON.stringify(op.observed)})`;
        this.fail(
          op.invoke,
          'committed-prefix consistency',
          `op ${op.id} (client ${op.client} on ${op.node}) ${what} for ${op.key}, which matches no committed state ` +
            `between prefix ${lo} and commit index ${hi}; states of ${op.key}: ${JSON.stringify(list)}`,
        );
      }
      floor.set(op.session, chosen);
    }
  }
}
