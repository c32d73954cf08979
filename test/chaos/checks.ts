/**
 * Checks of a chaos run's history, black box: the harness saw only what its clients were told and
 * when (invocation and completion on one wall clock), plus the command bytes each write
 * submitted. No node's log is read.
 *
 *  - linearizability of every key's writes against the KVStoreTTL model, by the simulator's
 *    search (test/sim/kv-linearizability.ts). Every submission round is a possible application;
 *    an unknown outcome may take effect after its invocation or never; a record written with a
 *    TTL may be expired by a leader at any time after its `expire`. Reads by clients are local
 *    (Patroni's are too) and are not linearizable by design: they only tell the search which log
 *    indexes a record was seen with. The final reads, taken after the cluster healed and a probe
 *    write committed, are linearizable and take part — so an acknowledged write that is gone
 *    shows here;
 *  - no two lock holders: a client that was told its acquisition or refresh of the leader key
 *    succeeded holds the lock from that moment until the record's `expire` (or its own release);
 *    two clients' holds must never overlap.
 */
import type { KvRecord } from '../../src/kv/record.js';
import { checkLinearizable, type LinOp, type LinOutput } from '../sim/kv-linearizability.js';
import { decodeModelCommand, type ModelRecord, type SubmittedRecord } from '../sim/kv-model.js';

export type OpRole =
  | 'lock-acquire'
  | 'lock-refresh'
  | 'lock-release'
  | 'member'
  | 'config'
  | 'plain'
  | 'plain-delete'
  | 'read'
  | 'final'
  | 'probe';

export interface ChaosOp {
  readonly id: number;
  readonly client: number;
  readonly kind: 'set' | 'delete' | 'read';
  readonly role: OpRole;
  readonly key: string;
  /** wall-clock ms */
  readonly invoke: number;
  /** wall-clock ms; +∞ while pending and for an unknown outcome */
  response: number;
  outcome: 'pending' | 'ok' | 'false' | 'precheck-false' | 'unknown' | 'error';
  /** hex of the submitted command */
  command?: string;
  rounds: number;
  /** set ok: the record; delete ok: true; read: the record or null */
  result?: KvRecord | boolean | null;
}

export interface Violation {
  readonly check: 'linearizability' | 'lock' | 'inconclusive' | 'recovery' | 'convergence';
  readonly key?: string;
  readonly detail: string;
}

const toModel = (r: KvRecord): ModelRecord =>
  r.expire === undefined
    ? { value: r.value, updated: r.updated, created: r.created, index: r.index }
    : { value: r.value, updated: r.updated, created: r.created, expire: r.expire, index: r.index };

const fromHex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

function isRecord(v: unknown): v is KvRecord {
  return typeof v === 'object' && v !== null && 'index' in v && 'value' in v;
}

/** The per-key histories the linearizability search takes. */
export function linearizabilityOps(ops: readonly ChaosOp[]): Map<string, LinOp[]> {
  const byKey = new Map<string, LinOp[]>();
  const add = (key: string, op: LinOp) => {
    const list = byKey.get(key) ?? [];
    list.push(op);
    byKey.set(key, list);
  };
  // indexes seen for each key in reads: where a set with an unknown outcome may have landed
  const seen = new Map<string, Set<number>>();
  for (const o of ops) {
    if (o.kind === 'read' && isRecord(o.result)) {
      const s = seen.get(o.key) ?? new Set<number>();
      s.add(o.result.index);
      seen.set(o.key, s);
    }
  }
  const expiring = new Map<string, { key: string; record: SubmittedRecord }>();
  for (const o of ops) {
    if (o.kind === 'read') {
      if (o.role !== 'final') continue; // local reads are not linearizable (Patroni's are local)
      const rec = isRecord(o.result) ? toModel(o.result) : null;
      add(o.key, {
        label: `final read by client ${o.client}`,
        invoke: o.invoke,
        response: o.response,
        cmd: { kind: 'read' },
        output: { type: 'read', result: rec },
      });
      continue;
    }
    if (o.command === undefined || o.rounds === 0) continue; // never submitted
    const cmd = decodeModelCommand(fromHex(o.command));
    if (cmd === null || cmd.kind === 'expire') continue;
    const known = o.outcome === 'ok' || o.outcome === 'false';
    let output: LinOutput = { type: 'unknown' };
    if (known && cmd.kind === 'set') {
      output = {
        type: 'set',
        result: o.outcome === 'ok' && isRecord(o.result) ? toModel(o.result) : false,
      };
    } else if (known && cmd.kind === 'delete') {
      output = { type: 'delete', result: o.outcome === 'ok' };
    }
    const lin =
      cmd.kind === 'set'
        ? ({ kind: 'set', record: cmd.record, cas: cmd.cas } as const)
        : ({ kind: 'delete', recursive: cmd.recursive, cas: cmd.cas } as const);
    const candidates = [...(seen.get(o.key) ?? [])];
    const unknownCopy = (round: number): LinOp => ({
      label: `op ${o.id} (${o.role}, client ${o.client}) round ${round}, outcome not known`,
      invoke: o.invoke,
      response: Number.POSITIVE_INFINITY,
      cmd: lin,
      output: { type: 'unknown' },
      indexCandidates: candidates,
      freshIndex: true,
    });
    // every round but the one whose answer the client got may have been applied too
    const extra = known ? o.rounds - 1 : o.rounds;
    for (let r = 1; r <= extra; r++) add(o.key, unknownCopy(r));
    if (known) {
      add(o.key, {
        label: `op ${o.id} (${o.role}, client ${o.client}) ${o.outcome}`,
        invoke: o.invoke,
        response: o.response,
        cmd: lin,
        output,
      });
    }
    if (cmd.kind === 'set' && cmd.record.expire !== undefined) {
      const r = cmd.record;
      expiring.set(`${o.key}|${r.value}|${r.updated}|${r.created}|${r.expire}`, { key: o.key, record: r });
    }
  }
  // a leader may expire a record with a TTL at any time after its expire (its clock is ours)
  for (const { key, record } of expiring.values()) {
    add(key, {
      label: `a leader's expiry of ${record.value} (expire ${record.expire})`,
      invoke: (record.expire as number) * 1000,
      response: Number.POSITIVE_INFINITY,
      cmd: { kind: 'expire', record },
      output: { type: 'unknown' },
    });
  }
  return byKey;
}

/**
 * Check every key's history. A key whose search runs out of `maxSteps` is searched again with
 * `retryFactor` times the budget (rare: it costs seconds) before it is reported as inconclusive.
 */
export function checkHistoryLinearizable(
  ops: readonly ChaosOp[],
  maxSteps = 2_000_000,
  retryFactor = 25,
): { violations: Violation[]; keys: number; steps: number } {
  const violations: Violation[] = [];
  let steps = 0;
  const byKey = linearizabilityOps(ops);
  for (const [key, lin] of byKey) {
    let r = checkLinearizable(lin, { maxSteps });
    steps += r.steps;
    if (!r.ok && r.inconclusive && retryFactor > 1) {
      r = checkLinearizable(lin, { maxSteps: maxSteps * retryFactor });
      steps += r.steps;
    }
    if (r.ok) continue;
    violations.push({ check: r.inconclusive ? 'inconclusive' : 'linearizability', key, detail: r.detail });
  }
  return { violations, keys: byKey.size, steps };
}

/** A client's belief that it holds the lock: from `from` until `until` (wall-clock ms). */
export interface LockHold {
  readonly client: number;
  readonly from: number;
  readonly until: number;
  readonly op: number;
}

/** The holds the history gives each client on `lockKey`, and any overlap of two clients' holds. */
export function checkLockHolders(
  ops: readonly ChaosOp[],
  lockKey: string,
): { holds: LockHold[]; violations: Violation[] } {
  const holds: LockHold[] = [];
  const byClient = new Map<number, ChaosOp[]>();
  for (const o of ops) {
    if (o.key !== lockKey || o.kind === 'read') continue;
    const list = byClient.get(o.client) ?? [];
    list.push(o);
    byClient.set(o.client, list);
  }
  for (const [client, list] of byClient) {
    list.sort((a, b) => a.invoke - b.invoke);
    list.forEach((o, i) => {
      if (o.kind !== 'set' || o.outcome !== 'ok' || !isRecord(o.result)) return;
      const expire = o.result.expire;
      if (expire === undefined) return;
      let until = expire * 1000;
      // a later release by the same client ends the hold when the client starts it
      for (const later of list.slice(i + 1)) {
        if (later.kind === 'delete' && later.invoke < until) {
          until = later.invoke;
          break;
        }
      }
      if (until > o.response) holds.push({ client, from: o.response, until, op: o.id });
    });
  }
  const violations: Violation[] = [];
  const sorted = [...holds].sort((a, b) => a.from - b.from);
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i] as LockHold;
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j] as LockHold;
      if (b.from >= a.until) break;
      if (b.client === a.client) continue;
      violations.push({
        check: 'lock',
        key: lockKey,
        detail: `client ${a.client} held the lock (op ${a.op}) until ${new Date(a.until).toISOString()} and client ${b.client} was told it acquired it (op ${b.op}) at ${new Date(b.from).toISOString()}`,
      });
    }
  }
  return { holds, violations };
}
