/**
 * The KVStoreTTL apply rules on the state machine itself (docs/dcs.md, "KVStoreTTL"): `_set` with
 * its compare-and-set conditions and the `created` adjustment, `_delete`, `_expire` (which removes a
 * key only while its record is exactly the one the leader saw expire), the set of keys the leader
 * has to watch for expiry, a dump restored, and the record view callers get. Every node applies
 * these the same way, so each rule is pinned down here with the inputs Python nodes can send.
 * Written against the surviving mutants of `npm run mutation -- --mutate 'src/kv/**'`.
 */
import { describe, expect, it } from 'vitest';
import { conditionKwargs, recordView, valuesMatch } from '../../src/kv/record.js';
import { KvStateMachine } from '../../src/kv/state-machine.js';
import { type PyDict, type PyDictKey, PyFloat, type PyValue } from '../../src/wire/value.js';

const f = (x: number) => new PyFloat(x);
const dict = (entries: Record<string, PyValue>): PyDict =>
  new Map<PyDictKey, PyValue>(Object.entries(entries));
const rec = (value: string, t: number, extra: Record<string, PyValue> = {}): PyDict =>
  dict({ value, updated: f(t), created: f(t), ...extra });
const kw = (entries: Record<string, PyValue> = {}): PyDict => dict(entries);

function machine() {
  const events: string[] = [];
  const sm = new KvStateMachine({
    onSet: (k, r) => events.push(`set ${k}=${r.value}@${r.index}`),
    onDelete: (k) => events.push(`del ${k}`),
  });
  return { sm, events };
}

describe('_set', () => {
  it('stores the record with the index of its entry and reports it', () => {
    const { sm, events } = machine();
    const r = sm.applySet(['/a', rec('x', 100)], kw(), 7);
    expect(r).toEqual({ value: 'x', updated: 100, created: 100, index: 7 });
    expect(sm.get('/a')).toEqual(r);
    expect(events).toEqual(['set /a=x@7']);
  });

  it('ignores a malformed command: a key that is not a string, a value that is not a dict', () => {
    const { sm, events } = machine();
    expect(sm.applySet([5, rec('x', 1)], kw(), 1)).toBe(false);
    expect(sm.applySet(['/a', 'not a dict'], kw(), 2)).toBe(false);
    expect(sm.applySet(['/a'], kw(), 3)).toBe(false);
    expect(sm.size).toBe(0);
    expect(events).toEqual([]);
  });

  it('keeps `created` on a new key and on an update that carries the stored one', () => {
    const { sm } = machine();
    // a new key keeps what the writer sent, even when it differs from `updated`
    expect(
      sm.applySet(['/a', dict({ value: 'x', updated: f(200), created: f(150) })], kw(), 1),
    ).toMatchObject({
      created: 150,
      updated: 200,
    });
    expect(
      sm.applySet(['/a', dict({ value: 'y', updated: f(300), created: f(150) })], kw(), 2),
    ).toMatchObject({
      created: 150,
      updated: 300,
    });
  });

  it('resets `created` to `updated` when an update carries another creation time (the key was re-created)', () => {
    const { sm } = machine();
    sm.applySet(['/a', rec('x', 100)], kw(), 1);
    expect(
      sm.applySet(['/a', dict({ value: 'y', updated: f(300), created: f(250) })], kw(), 2),
    ).toMatchObject({
      created: 300,
      updated: 300,
    });
  });

  it('treats an empty record from a dump as absent (Python truthiness), for conditions and for `created`', () => {
    const { sm } = machine();
    // `_set` always stores the index, so only a dump can hold an empty record
    sm.restore(new Map<PyDictKey, PyValue>([['/a', dict({})]]));
    expect(
      sm.applySet(
        ['/a', dict({ value: 'y', updated: f(300), created: f(250) })],
        kw({ prevExist: false }),
        2,
      ),
    ).toMatchObject({ created: 250 });
  });

  it('prevExist, prevValue and prevIndex must each hold; a None prevIndex imposes nothing', () => {
    const { sm } = machine();
    expect(sm.applySet(['/a', rec('x', 1)], kw({ prevExist: true }), 1)).toBe(false);
    expect(sm.applySet(['/a', rec('x', 1)], kw({ prevValue: 'x' }), 1)).toBe(false);
    expect(sm.applySet(['/a', rec('x', 1)], kw({ prevIndex: 0 }), 1)).toBe(false);
    expect(sm.applySet(['/a', rec('x', 1)], kw({ prevIndex: null }), 1)).not.toBe(false);
    expect(sm.applySet(['/a', rec('y', 2)], kw({ prevExist: false }), 2)).toBe(false);
    expect(sm.applySet(['/a', rec('y', 2)], kw({ prevValue: 'other' }), 2)).toBe(false);
    expect(sm.applySet(['/a', rec('y', 2)], kw({ prevIndex: 5 }), 2)).toBe(false);
    expect(sm.applySet(['/a', rec('y', 2)], kw({ prevIndex: null, prevValue: 'x' }), 3)).toMatchObject({
      value: 'y',
      index: 3,
    });
    expect(sm.applySet(['/a', rec('z', 3)], kw({ prevIndex: 3n, prevExist: 1 }), 4)).toMatchObject({
      value: 'z',
    });
  });
});

describe('_delete', () => {
  it('removes a key whose conditions hold; a missing key or a failed condition changes nothing', () => {
    const { sm, events } = machine();
    sm.applySet(['/a', rec('x', 1)], kw(), 1);
    expect(sm.applyDelete(['/missing'], kw())).toBe(false);
    expect(sm.applyDelete(['/a'], kw({ prevValue: 'other' }))).toBe(false);
    expect(sm.applyDelete([5], kw())).toBe(false);
    expect(sm.get('/a')).not.toBeNull();
    expect(sm.applyDelete(['/a'], kw({ prevIndex: 1 }))).toBe(true);
    expect(sm.get('/a')).toBeNull();
    expect(events).toEqual(['set /a=x@1', 'del /a']);
  });

  it('recursive (keyword or positional) removes every key under the prefix, whatever the conditions', () => {
    const { sm } = machine();
    for (const [i, k] of ['/s/a', '/s/b', '/t/c'].entries()) sm.applySet([k, rec('x', 1)], kw(), i + 1);
    expect(sm.applyDelete(['/s/'], kw({ recursive: true, prevValue: 'nope' }))).toBe(true);
    expect([...sm.getPrefix('/').keys()]).toEqual(['/t/c']);
    expect(sm.applyDelete(['/t/', true], kw())).toBe(true);
    expect(sm.size).toBe(0);
    // recursive=False as a keyword wins over a positional True
    sm.applySet(['/u/a', rec('x', 1)], kw(), 9);
    expect(sm.applyDelete(['/u/', true], kw({ recursive: false }))).toBe(false);
    expect(sm.size).toBe(1);
  });
});

describe('_expire', () => {
  it('removes the key when the record is the one the leader saw expire', () => {
    const { sm, events } = machine();
    sm.applySet(['/a', rec('x', 100, { expire: f(130) })], kw(), 1);
    sm.applyExpire(['/a', rec('x', 100, { expire: f(130), index: 1 })]);
    expect(sm.get('/a')).toBeNull();
    expect(sm.expiring.has('/a')).toBe(false);
    expect(events).toEqual(['set /a=x@1', 'del /a']);
  });

  it('keeps a key refreshed since: any of value, created, updated or expire differing', () => {
    const { sm } = machine();
    sm.applySet(['/a', rec('x', 100, { expire: f(130) })], kw(), 1);
    const seen = rec('x', 100, { expire: f(130) });
    for (const [k, v] of [
      ['value', 'y'],
      ['created', f(99)],
      ['updated', f(101)],
      ['expire', f(131)],
    ] as const) {
      const stale = new Map(seen);
      stale.set(k, v);
      sm.applyExpire(['/a', stale]);
      expect(sm.get('/a'), `${k} differs`).not.toBeNull();
    }
    const noExpire = new Map(seen);
    noExpire.delete('expire');
    sm.applyExpire(['/a', noExpire]);
    expect(sm.get('/a')).not.toBeNull();
  });

  it('ignores a missing key, an empty record from a dump and a malformed command', () => {
    const { sm, events } = machine();
    sm.restore(new Map<PyDictKey, PyValue>([['/e', dict({})]]));
    sm.applyExpire(['/missing', rec('x', 1)]);
    sm.applyExpire(['/e', dict({})]);
    sm.applyExpire([5, dict({})]);
    sm.applyExpire(['/e', 'x']);
    expect(sm.raw('/e')).toBeDefined();
    expect(events).toEqual([]);
    sm.applySet(['/k', rec('x', 1)], kw(), 1);
    sm.applyExpire(['/k', 'not a record']);
    sm.applyExpire(['/k']);
    expect(sm.get('/k')).not.toBeNull();
  });

  it('a stored record matches a value without the fields it lacks too (None == None), as in Python', () => {
    const { sm } = machine();
    sm.applySet(['/n', dict({})], kw(), 1); // stored as {index: 1}
    sm.applyExpire(['/n', dict({})]);
    expect(sm.raw('/n')).toBeUndefined();
  });
});

describe('the keys the leader watches for expiry', () => {
  it('are exactly the keys whose record carries `expire`, through sets, deletes and a dump restored', () => {
    const { sm } = machine();
    sm.applySet(['/ttl', rec('x', 1, { expire: f(31) })], kw(), 1);
    sm.applySet(['/plain', rec('x', 1)], kw(), 2);
    expect([...sm.expiring]).toEqual(['/ttl']);
    sm.applySet(['/ttl', rec('y', 2)], kw(), 3); // re-set without a TTL
    expect([...sm.expiring]).toEqual([]);
    sm.applySet(['/plain', rec('z', 3, { expire: f(33) })], kw(), 4);
    expect([...sm.expiring]).toEqual(['/plain']);

    // a node that installs a dump must expire the dump's TTL keys once it leads
    const other = new KvStateMachine();
    other.restore(sm.snapshot());
    expect([...other.expiring]).toEqual(['/plain']);
    expect(other.get('/plain')).toMatchObject({ value: 'z', expire: 33, index: 4 });
  });

  it('a dump with malformed entries keeps the good ones; one that is not a dict empties the state', () => {
    const sm = new KvStateMachine();
    sm.restore(
      new Map<PyDictKey, PyValue>([
        ['/ok', rec('x', 1, { expire: f(2), index: 1 })],
        [5, rec('x', 1)],
        ['/bad', 'not a record'],
      ]),
    );
    expect([...sm.getPrefix('').keys()]).toEqual(['/ok']);
    expect([...sm.expiring]).toEqual(['/ok']);
    sm.restore('garbage');
    expect(sm.size).toBe(0);
    sm.restore(5);
    expect(sm.size).toBe(0);
    expect(sm.expiring.size).toBe(0);
  });
});

describe('records as callers see them', () => {
  it('numbers from any Python type, a value that is not a string as its text, `expire` only when set', () => {
    const view = recordView(dict({ value: 5, updated: 10, created: f(9.5), index: 12n }));
    expect(view).toEqual({ value: '5', updated: 10, created: 9.5, index: 12 });
    expect('expire' in view).toBe(false);
    expect(recordView(dict({ updated: 'soon', expire: 'never' }))).toStrictEqual({
      value: '',
      updated: 0,
      created: 0,
      index: 0,
    });
    expect(recordView(dict({ value: 'v', expire: f(40), index: 1 }))).toMatchObject({ expire: 40 });
    expect(Object.isFrozen(view)).toBe(true);
  });

  it('the conditions sent are the three CAS keywords that were given, explicit nulls kept', () => {
    const cas = {
      prevValue: 'a',
      prevIndex: null,
      prevExist: undefined,
      recursive: true,
    } as unknown as Parameters<typeof conditionKwargs>[0];
    expect([...conditionKwargs(cas)]).toEqual([
      ['prevValue', 'a'],
      ['prevIndex', null],
    ]);
  });

  it('two records match for `_expire` when created, updated, expire and value are equal (the index aside)', () => {
    expect(valuesMatch(rec('x', 1, { index: 1 }), rec('x', 1, { index: 2 }))).toBe(true);
    expect(valuesMatch(rec('x', 1, { expire: f(3) }), rec('x', 1))).toBe(false);
  });
});
