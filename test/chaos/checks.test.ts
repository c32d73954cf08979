/**
 * The chaos checks on hand-made histories: each check passes a correct history and fails the
 * same history with one thing wrong (a lost acknowledged write, a read of an expired-too-early key,
 * two lock holders), so a campaign with zero violations means something.
 */
import { describe, expect, it } from 'vitest';
import { type CasConditions, conditionKwargs, type KvRecord, newRecordDict } from '../../src/kv/record.js';
import { encodeMethodCall } from '../../src/raft/commands.js';
import { type ChaosOp, checkHistoryLinearizable, checkLockHolders } from './checks.js';

const T0 = 1_800_000_000_000; // ms

let nextId = 0;
function setOp(
  client: number,
  key: string,
  value: string,
  invoke: number,
  response: number,
  outcome: ChaosOp['outcome'],
  opts: { ttl?: number; cas?: CasConditions; index?: number; rounds?: number; created?: number } = {},
): ChaosOp {
  const nowS = (T0 + invoke) / 1000;
  const rec = newRecordDict(value, nowS, undefined, opts.ttl);
  const kwargs = conditionKwargs(opts.cas ?? {});
  const command = encodeMethodCall({
    funcId: 2,
    args: [key, rec],
    kwargs: kwargs.size > 0 ? kwargs : undefined,
  });
  const result: KvRecord | undefined =
    outcome === 'ok'
      ? {
          value,
          updated: nowS,
          created: opts.created ?? nowS,
          ...(opts.ttl ? { expire: nowS + opts.ttl } : {}),
          index: opts.index ?? 1,
        }
      : undefined;
  return {
    id: nextId++,
    client,
    kind: 'set',
    role: key === '/l' ? 'lock-acquire' : 'plain',
    key,
    invoke: T0 + invoke,
    response: outcome === 'unknown' ? Number.POSITIVE_INFINITY : T0 + response,
    outcome,
    command: Buffer.from(command).toString('hex'),
    rounds: opts.rounds ?? 1,
    ...(result ? { result } : outcome === 'false' ? { result: false } : {}),
  };
}

function finalRead(key: string, at: number, result: KvRecord | null): ChaosOp {
  return {
    id: nextId++,
    client: 0,
    kind: 'read',
    role: 'final',
    key,
    invoke: T0 + at,
    response: T0 + at + 1,
    outcome: 'ok',
    rounds: 0,
    result,
  };
}

describe('chaos history checks', () => {
  it('an acknowledged write present at the end is linearizable; gone, it is a violation', () => {
    const w = setOp(1, '/k', 'a', 0, 10, 'ok', { index: 5 });
    const ok = checkHistoryLinearizable([w, finalRead('/k', 100, w.result as KvRecord)]);
    expect(ok.violations).toEqual([]);
    const lost = checkHistoryLinearizable([w, finalRead('/k', 100, null)]);
    expect(lost.violations.map((v) => v.check)).toEqual(['linearizability']);
  });

  it('a write with an unknown outcome may or may not have happened, at an index seen later', () => {
    const w = setOp(1, '/k', 'a', 0, 0, 'unknown', { rounds: 2 });
    expect(checkHistoryLinearizable([w, finalRead('/k', 100, null)]).violations).toEqual([]);
    const seen: KvRecord = { value: 'a', updated: T0 / 1000, created: T0 / 1000, index: 9 };
    expect(checkHistoryLinearizable([w, finalRead('/k', 100, seen)]).violations).toEqual([]);
    // but never a value nobody wrote
    const bogus: KvRecord = { ...seen, value: 'b' };
    expect(checkHistoryLinearizable([w, finalRead('/k', 100, bogus)]).violations).toHaveLength(1);
  });

  it('every round of a retried write may have taken effect: two rounds can explain what one cannot', () => {
    // a (unknown outcome, retried) must be there at index 5 for c's prevValue, and again after c
    const a = (rounds: number) => setOp(1, '/k', 'a', 0, 0, 'unknown', { rounds });
    const c = setOp(2, '/k', 'c', 50, 60, 'ok', { cas: { prevValue: 'a' }, index: 6 });
    const aAt = (index: number): KvRecord => ({ value: 'a', updated: T0 / 1000, created: T0 / 1000, index });
    const localRead = { ...finalRead('/k', 40, aAt(5)), role: 'plain' as const };
    const history = (rounds: number) => [a(rounds), localRead, c, finalRead('/k', 100, aAt(7))];
    expect(checkHistoryLinearizable(history(2)).violations).toEqual([]);
    expect(checkHistoryLinearizable(history(1)).violations.map((v) => v.check)).toEqual(['linearizability']);
  });

  it('many retried rounds of several writes: a wrong final read is still proved wrong, not inconclusive', () => {
    const writes = ['a', 'b', 'c'].map((v, i) => setOp(i + 1, '/k', v, i, 0, 'unknown', { rounds: 12 }));
    const bogus: KvRecord = { value: 'z', updated: T0 / 1000, created: T0 / 1000, index: 40 };
    const r = checkHistoryLinearizable([...writes, finalRead('/k', 100, bogus)], 1_000_000, 1);
    expect(r.violations.map((v) => v.check)).toEqual(['linearizability']);
  });

  it('a key written with a TTL may be gone after its expire, not before', () => {
    const w = setOp(1, '/m', 'a', 0, 10, 'ok', { ttl: 2, index: 3 });
    expect(checkHistoryLinearizable([w, finalRead('/m', 3000, null)]).violations).toEqual([]);
    expect(checkHistoryLinearizable([w, finalRead('/m', 1000, null)]).violations).toHaveLength(1);
  });

  it('compare-and-set: prevExist:false twice, both acknowledged, is not linearizable', () => {
    const a = setOp(1, '/l', 'c1', 0, 10, 'ok', { ttl: 30, cas: { prevExist: false }, index: 3 });
    const b = setOp(2, '/l', 'c2', 20, 30, 'ok', { ttl: 30, cas: { prevExist: false }, index: 4 });
    expect(checkHistoryLinearizable([a, b]).violations).toHaveLength(1);
    const bFalse = setOp(2, '/l', 'c2', 20, 30, 'false', { ttl: 30, cas: { prevExist: false } });
    expect(checkHistoryLinearizable([a, bFalse]).violations).toEqual([]);
  });

  it('lock holders: a hold lasts until the record expires; a second holder before that is caught', () => {
    const a = setOp(1, '/l', 'c1', 0, 10, 'ok', { ttl: 3, cas: { prevExist: false }, index: 3 });
    const late = setOp(2, '/l', 'c2', 3100, 3200, 'ok', { ttl: 3, cas: { prevExist: false }, index: 9 });
    expect(checkLockHolders([a, late], '/l').violations).toEqual([]);
    const early = setOp(2, '/l', 'c2', 1000, 1100, 'ok', { ttl: 3, cas: { prevExist: false }, index: 9 });
    const r = checkLockHolders([a, early], '/l');
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]?.detail).toMatch(/client 1 held the lock/);
  });
});
