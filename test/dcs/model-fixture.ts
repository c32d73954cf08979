/**
 * A synthetic ordered KV map for the data-model tests: key → {value, index}, with Python dict /
 * KVStoreTTL order semantics (an update keeps the key's position, delete + re-create moves it to
 * the end) and log-like indexes (every write and delete consumes one; the first write gets 3).
 */
import { buildCluster, type Cluster, entriesUnder, type KvRecordView } from '../../src/dcs/model/index.js';

export class FakeKv {
  private readonly data = new Map<string, KvRecordView>();
  private next = 3;

  set(key: string, value: string): KvRecordView {
    const rec = Object.freeze({ value, index: this.next++ });
    this.data.set(key, rec);
    return rec;
  }

  delete(key: string): void {
    this.data.delete(key);
    this.next++;
  }

  index(key: string): number {
    const r = this.data.get(key);
    if (!r) throw new Error(`no key ${key}`);
    return r.index;
  }

  entries(): [string, KvRecordView][] {
    return [...this.data];
  }
}

export const BATMAN = '/service/batman/';

/** A KV holding the given keys (relative to /service/batman/ unless they start with `/`), in order. */
export function kvWith(keys: Iterable<readonly [string, string]>): FakeKv {
  const kv = new FakeKv();
  for (const [k, v] of keys) kv.set(k.startsWith('/') ? k : BATMAN + k, v);
  return kv;
}

/** The non-MPP cluster of scope batman, as the Raft DCS loads it. */
export function clusterOf(kv: FakeKv, path = BATMAN): Cluster {
  return buildCluster(entriesUnder(kv.entries(), path), { keyPrefix: path });
}
