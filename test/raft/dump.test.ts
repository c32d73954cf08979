import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  decodeDump,
  decodeDumpPickle,
  encodeDumpChunks,
  encodeDumpPickle,
} from '../../src/raft/snapshot/dump.js';
import { decodePickle, encodePickle } from '../../src/wire/pickle/index.js';
import { PyFloat, type PyValue, pyEquals } from '../../src/wire/value.js';
import { describePython, runPython } from '../helpers/python.js';
import { vectorBytes } from '../helpers/vectors.js';

function bigState(n: number): Map<string, PyValue> {
  const data = new Map<string, PyValue>();
  for (let i = 0; i < n; i++) {
    data.set(
      `/service/batman/k${i}`,
      new Map<string, PyValue>([
        ['value', `v${i}`],
        ['updated', new PyFloat(1000.5 + i)],
        ['created', new PyFloat(1000.5)],
        ['index', i + 3],
      ]),
    );
  }
  return new Map<string, PyValue>([
    ['_SyncObj__enabledCodeVersion', 0],
    ['_KVStoreTTL__data', data],
  ]);
}

const dump = (n: number) => ({
  data: bigState(n),
  lastEntry: { command: Uint8Array.of(1), index: n + 3, term: 2 },
  prevEntry: { command: Uint8Array.of(0, 1, 2), index: n + 2, term: 2 },
  cluster: ['127.0.0.1:1', '127.0.0.1:2'],
});

describe('pysyncobj dumps', () => {
  it('reads the real Patroni dumps of the vectors', async () => {
    for (const f of ['dump/kvstorettl_real.dump', 'dump/dump_in_memory.gz']) {
      const d = await decodeDump(vectorBytes(f));
      expect(d.lastEntry.index).toBeGreaterThan(d.prevEntry.index);
      expect(d.cluster.length).toBeGreaterThan(0);
      expect((d.data as Map<string, PyValue>).has('_KVStoreTTL__data')).toBe(true);
    }
  });

  it('round-trips a large incremental dump (batched dicts) to the same value', () => {
    const d = dump(2500);
    const back = decodeDumpPickle(encodeDumpPickle(d));
    expect(pyEquals(back.data, d.data)).toBe(true);
    expect({ ...back.lastEntry, command: [...back.lastEntry.command] }).toEqual({
      ...d.lastEntry,
      command: [1],
    });
    expect([...back.cluster].sort()).toEqual(d.cluster);
    // also exactly what a plain decode of the pickle sees
    expect(decodePickle(encodeDumpPickle(dump(3)))).toBeTruthy();
  });

  it('splits a large state nested in small dicts and lists into batch-sized chunks', () => {
    // the KVStoreTTL's keys sit one level down ({'_KVStoreTTL__data': {…}}); with consumers the
    // state is a list — neither may become one chunk (one buffer) of the whole state
    const d = dump(5000);
    const withConsumers = { ...d, data: [d.data, new Map<string, PyValue>([['x', 1]]), null] };
    for (const x of [d, withConsumers]) {
      const chunks = [...encodeDumpChunks(x)];
      const total = chunks.reduce((a, c) => a + c.length, 0);
      expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(total / 4);
      const back = decodeDumpPickle(Buffer.concat(chunks));
      expect(pyEquals(back.data, x.data)).toBe(true);
      expect(pyEquals(back.data, decodePickle(encodePickle(x.data)))).toBe(true);
    }
  });
});

describePython('pysyncobj dumps, read by Python', () => {
  it('Python loads our incremental dump with its own unpickler, sets and TCPNodes included', () => {
    const gz = gzipSync(encodeDumpPickle(dump(2500)));
    const out = runPython(
      [
        'import sys, gzip, io, pysyncobj.pickle as p',
        'data, last, prev, cluster = p.load(gzip.GzipFile(fileobj=io.BytesIO(sys.stdin.buffer.read())))',
        'kv = data["_KVStoreTTL__data"]',
        'print(len(kv), kv["/service/batman/k7"]["index"], kv["/service/batman/k7"]["updated"], last, prev[1], sorted(n.address for n in cluster), type(next(iter(cluster))).__name__)',
      ].join('\n'),
      gz,
    );
    expect(out.trim()).toBe("2500 10 1007.5 (b'\\x01', 2503, 2) 2502 ['127.0.0.1:1', '127.0.0.1:2'] TCPNode");
    expect(gunzipSync(gz).length).toBeGreaterThan(0);
  });
});
