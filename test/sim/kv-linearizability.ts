/**
 * Linearizability of one key's history against the KVStoreTTL model (kv-model.ts): the Wing–Gong
 * search with Lowe's improvements — operations are linearized just in time in a linked list of
 * call/return events, and every (set of linearized operations, model state) reached is cached, so
 * a configuration is never explored twice. The model may be non-deterministic (an operation may
 * have several successor states), each alternative is a branch.
 *
 * An operation with an unknown outcome (timed out, its node crashed) has its return at +∞: it may
 * take effect at any point after its invocation, or not at all.
 *
 * Pruning, each without loss of solutions:
 *  - acknowledged sets carry their log index, and indexes grow along any valid order: they are
 *    taken in index order, and an unknown set may only take an index below the next one;
 *  - an operation that leaves the state as it is (a read, a CAS reported false) and can be
 *    linearized now is taken now, without trying the other places (it commutes with everything
 *    still pending);
 *  - an unknown outcome is only placed where it changes the state: a no-op placement is the same
 *    as placing it last, and once every operation with a known outcome is placed the unknown ones
 *    left cannot influence anything observed — the history is linearizable;
 *  - identical operations with unknown outcomes (the rounds of one retried write: same command,
 *    same invocation, same index candidates) are interchangeable: the k-th of them is only taken
 *    once the (k-1)-th is, so the search tries how many of them took effect, not which ones.
 * The search is bounded by a step budget; running out of it is reported as inconclusive, never as
 * a pass.
 */
import {
  type Cas,
  casHolds,
  expireMatches,
  type ModelFaults,
  type ModelRecord,
  type SubmittedRecord,
  sameRecord,
  storedRecord,
} from './kv-model.js';

export type LinCommand =
  | { readonly kind: 'set'; readonly record: SubmittedRecord; readonly cas: Cas }
  | { readonly kind: 'delete'; readonly recursive: boolean; readonly cas: Cas }
  | { readonly kind: 'expire'; readonly record: SubmittedRecord }
  | { readonly kind: 'read' };

export type LinOutput =
  | { readonly type: 'unknown' }
  | { readonly type: 'set'; readonly result: ModelRecord | false }
  | { readonly type: 'delete'; readonly result: boolean }
  | { readonly type: 'read'; readonly result: ModelRecord | null };

export interface LinOp {
  /** what the report shows (client operation, round) */
  readonly label: string;
  readonly invoke: number;
  /** +∞ for an unknown outcome */
  readonly response: number;
  readonly cmd: LinCommand;
  readonly output: LinOutput;
  /** for a set whose index is not in its output: the log indexes it may have been applied at */
  readonly indexCandidates?: readonly number[];
  /**
   * for a set whose index is not in its output, in a black-box history (no committed log to take
   * candidates from): it may also have been applied at an index nobody observed — any index above
   * the key's last one and below the next acknowledged one, which later operations can only tell
   * apart by order (a fractional stand-in is taken)
   */
  readonly freshIndex?: boolean;
}

export interface KeyState {
  readonly rec: ModelRecord | null;
  /** the highest index a successful set of this key has had so far (indexes only grow) */
  readonly lastIndex: number;
}

export const EMPTY_KEY_STATE: KeyState = { rec: null, lastIndex: 0 };

/**
 * The successor states of `state` under `op` whose output matches what was observed. A set whose
 * index is not known may only take an index below `indexLimit` (the lowest index of an
 * acknowledged set not linearized yet: indexes grow along the order).
 */
export function step(
  state: KeyState,
  op: LinOp,
  faults: ModelFaults = {},
  indexLimit = Number.POSITIVE_INFINITY,
): KeyState[] {
  const { cmd, output } = op;
  const rec = state.rec;
  switch (cmd.kind) {
    case 'read':
      return output.type === 'read' && sameRecord(rec, output.result) ? [state] : [];
    case 'expire':
      return [
        rec !== null && expireMatches(rec, cmd.record) ? { rec: null, lastIndex: state.lastIndex } : state,
      ];
    case 'delete': {
      const removes = cmd.recursive || (rec !== null && casHolds(rec, cmd.cas, faults));
      const next = removes ? { rec: null, lastIndex: state.lastIndex } : state;
      if (output.type === 'unknown') return [next];
      return output.type === 'delete' && output.result === (cmd.recursive || removes) ? [next] : [];
    }
    case 'set': {
      const holds = casHolds(rec, cmd.cas, faults);
      if (output.type === 'set') {
        if (output.result === false) return holds ? [] : [state];
        if (!holds) return [];
        const r = output.result;
        if (r.index <= state.lastIndex) return [];
        return sameRecord(storedRecord(rec, cmd.record, r.index, faults), r)
          ? [{ rec: r, lastIndex: r.index }]
          : [];
      }
      if (output.type !== 'unknown') return [];
      if (!holds) return [state];
      const out: KeyState[] = [];
      for (const idx of op.indexCandidates ?? []) {
        if (idx > state.lastIndex && idx < indexLimit)
          out.push({ rec: storedRecord(rec, cmd.record, idx, faults), lastIndex: idx });
      }
      if (op.freshIndex) {
        // One stand-in for every unobserved index between the observed k and k + 1: the states
        // it gives differ from each other only in numbers nobody can observe, so they are one
        // state for the cache (several unobserved sets in a row share it).
        const idx = Math.floor(state.lastIndex) + 0.5;
        if (idx >= state.lastIndex && idx < indexLimit)
          out.push({ rec: storedRecord(rec, cmd.record, idx, faults), lastIndex: idx });
      }
      return out;
    }
  }
}

function stateKey(s: KeyState): string {
  const r = s.rec;
  return r === null
    ? `-#${s.lastIndex}`
    : `${r.value}|${r.updated}|${r.created}|${'expire' in r ? r.expire : '-'}|${r.index}#${s.lastIndex}`;
}

interface Entry {
  readonly call: boolean;
  readonly op: number;
  readonly time: number;
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

export type LinResult =
  | { readonly ok: true; readonly steps: number }
  | { readonly ok: false; readonly inconclusive: false; readonly steps: number; readonly detail: string }
  | { readonly ok: false; readonly inconclusive: true; readonly steps: number; readonly detail: string };

/** Check one key's history. */
export function checkLinearizable(
  ops: readonly LinOp[],
  options: { maxSteps?: number; faults?: ModelFaults; initial?: KeyState } = {},
): LinResult {
  const maxSteps = options.maxSteps ?? 2_000_000;
  const faults = options.faults ?? {};
  const events: Entry[] = [];
  ops.forEach((o, i) => {
    const call: Entry = { call: true, op: i, time: o.invoke, match: null, prev: null, next: null };
    const ret: Entry = { call: false, op: i, time: o.response, match: null, prev: null, next: null };
    call.match = ret;
    events.push(call, ret);
  });
  // by time; at equal times calls first (equal times are concurrent, not ordered)
  events.sort((a, b) => a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
  const head: Entry = {
    call: false,
    op: -1,
    time: Number.NEGATIVE_INFINITY,
    match: null,
    prev: null,
    next: null,
  };
  let last = head;
  for (const e of events) {
    e.prev = last;
    last.next = e;
    last = e;
  }

  const lift = (e: Entry) => {
    (e.prev as Entry).next = e.next;
    if (e.next) e.next.prev = e.prev;
    const m = e.match as Entry;
    (m.prev as Entry).next = m.next;
    if (m.next) m.next.prev = m.prev;
  };
  const unlift = (e: Entry) => {
    const m = e.match as Entry;
    (m.prev as Entry).next = m;
    if (m.next) m.next.prev = m;
    (e.prev as Entry).next = e;
    if (e.next) e.next.prev = e;
  };

  const bits = new Uint32Array(Math.ceil(ops.length / 32) + 1);
  const setBit = (i: number) => {
    bits[i >>> 5] = (bits[i >>> 5] as number) | (1 << (i & 31));
  };
  const clearBit = (i: number) => {
    bits[i >>> 5] = (bits[i >>> 5] as number) & ~(1 << (i & 31));
  };
  const cache = new Set<string>();
  const cacheKey = (s: KeyState) => `${bits.join(',')}/${stateKey(s)}`;

  interface Frame {
    readonly entry: Entry;
    readonly before: KeyState;
    readonly alts: KeyState[];
    alt: number;
    /** a read-only operation taken as soon as it could be: no alternative to try */
    readonly forced: boolean;
  }
  const stack: Frame[] = [];
  // acknowledged sets carry their index: they can only be linearized in index order
  const known = ops
    .map((o, i) => ({
      i,
      idx: o.output.type === 'set' && o.output.result !== false ? o.output.result.index : -1,
    }))
    .filter((k) => k.idx >= 0)
    .sort((a, b) => a.idx - b.idx);
  const knownRank = new Map(known.map((k, r) => [k.i, r]));
  // interchangeable unknown copies: each waits for the previous identical one
  const twinBefore = new Map<number, number>();
  const lastTwin = new Map<string, number>();
  ops.forEach((o, i) => {
    if (o.output.type !== 'unknown' || Number.isFinite(o.response)) return;
    const k = JSON.stringify([o.cmd, o.invoke, o.indexCandidates ?? null, o.freshIndex ?? false]);
    const prev = lastTwin.get(k);
    if (prev !== undefined) twinBefore.set(i, prev);
    lastTwin.set(k, i);
  });
  const isSet = (i: number) => ((bits[i >>> 5] as number) & (1 << (i & 31))) !== 0;
  let knownDone = 0;
  const indexLimit = () => known[knownDone]?.idx ?? Number.POSITIVE_INFINITY;
  // once every operation with a known outcome is linearized, the unknown ones left can follow in
  // any order: nothing observed comes after them
  let finiteLeft = ops.filter((o) => Number.isFinite(o.response)).length;
  const hasResponse = (i: number) => Number.isFinite((ops[i] as LinOp).response);
  let state = options.initial ?? EMPTY_KEY_STATE;
  let entry = head.next;
  let steps = 0;
  let deepest = 0;
  let deepestStuck = '';

  /** Try alternatives from `from` on for the call `e`; true when one was taken. */
  const take = (e: Entry, before: KeyState, alts: KeyState[], from: number): boolean => {
    for (let a = from; a < alts.length; a++) {
      setBit(e.op);
      const k = cacheKey(alts[a] as KeyState);
      if (!cache.has(k)) {
        cache.add(k);
        stack.push({ entry: e, before, alts, alt: a, forced: false });
        state = alts[a] as KeyState;
        lift(e);
        if (knownRank.has(e.op)) knownDone++;
        if (hasResponse(e.op)) finiteLeft--;
        return true;
      }
      clearBit(e.op);
    }
    return false;
  };

  /** Undo the last choice and try the next one; false when there is none left. */
  const backtrack = (): boolean => {
    for (;;) {
      const top = stack.pop();
      if (top === undefined) return false;
      state = top.before;
      clearBit(top.entry.op);
      unlift(top.entry);
      if (knownRank.has(top.entry.op)) knownDone--;
      if (hasResponse(top.entry.op)) finiteLeft++;
      // a forced step was without loss of generality: failing after it fails before it too
      if (top.forced) continue;
      entry = take(top.entry, top.before, top.alts, top.alt + 1) ? head.next : top.entry.next;
      return true;
    }
  };

  while (finiteLeft > 0) {
    if (++steps > maxSteps) {
      return { ok: false, inconclusive: true, steps, detail: `search budget of ${maxSteps} steps exhausted` };
    }
    const e = entry as Entry;
    if (e.call) {
      const op = ops[e.op] as LinOp;
      const rank = knownRank.get(e.op);
      if (rank !== undefined && rank !== knownDone) {
        entry = e.next; // an acknowledged set with a lower index has to come first
        continue;
      }
      const twin = twinBefore.get(e.op);
      if (twin !== undefined && !isSet(twin)) {
        entry = e.next; // its identical predecessor has to be taken first
        continue;
      }
      let alts = step(state, op, faults, indexLimit());
      // An unknown outcome that changes nothing here is the same as coming last (where its effect,
      // if any, is unobservable): only its effectful placements are worth trying.
      if (op.output.type === 'unknown') alts = alts.filter((a) => a !== state);
      if (alts.length > 0 && readOnly(op)) {
        // An operation that never changes the state (a read, a CAS that reported false), minimal
        // here and matching: linearizing it right now loses no solution (it commutes with
        // everything pending). Visited before means this configuration already failed.
        setBit(e.op);
        const k = cacheKey(state);
        if (cache.has(k)) {
          clearBit(e.op);
          if (!backtrack()) return { ok: false, inconclusive: false, steps, detail: deepestStuck };
          continue;
        }
        cache.add(k);
        stack.push({ entry: e, before: state, alts, alt: 0, forced: true });
        lift(e);
        if (hasResponse(e.op)) finiteLeft--;
        entry = head.next;
        continue;
      }
      if (take(e, state, alts, 0)) entry = head.next;
      else entry = e.next;
      continue;
    }
    // a return whose operation could not be linearized before it: backtrack
    if (stack.length > deepest || deepestStuck === '') {
      deepest = stack.length;
      deepestStuck = describeStuck(ops, e.op, state, stack.length);
    }
    if (!backtrack()) return { ok: false, inconclusive: false, steps, detail: deepestStuck };
  }
  return { ok: true, steps };
}

/** Operations that leave the state as it is wherever they are linearized (given their output). */
function readOnly(op: LinOp): boolean {
  const o = op.output;
  if (o.type === 'read') return true;
  if (o.type === 'set') return o.result === false;
  if (o.type === 'delete') return o.result === false && op.cmd.kind === 'delete' && !op.cmd.recursive;
  return false;
}

function describeStuck(ops: readonly LinOp[], opIndex: number, state: KeyState, depth: number): string {
  const op = ops[opIndex] as LinOp;
  return (
    `after linearizing ${depth} operation(s) the state is ${state.rec === null ? 'absent' : JSON.stringify(state.rec)} ` +
    `(last index ${state.lastIndex}) and no order lets ${op.label} return ${JSON.stringify(op.output)} ` +
    `[invoked ${op.invoke.toFixed(1)} ms, returned ${op.response.toFixed(1)} ms]`
  );
}

/** A readable dump of a key's history (for failure reports). */
export function describeHistory(
  ops: readonly LinOp[],
  limit = Number(process.env.KV_HISTORY_LIMIT ?? 60),
): string {
  const sorted = [...ops].sort((a, b) => a.invoke - b.invoke);
  const lines = sorted.slice(0, limit).map((o) => {
    const resp = Number.isFinite(o.response) ? o.response.toFixed(1) : '∞';
    return `  [${o.invoke.toFixed(1)}, ${resp}] ${o.label} ${JSON.stringify(o.cmd)} → ${JSON.stringify(o.output)}${
      o.indexCandidates ? ` idx∈{${o.indexCandidates.join(',')}}` : ''
    }`;
  });
  if (sorted.length > limit) lines.push(`  … ${sorted.length - limit} more`);
  return lines.join('\n');
}
