/**
 * The read-only view of a KV record the data model needs: its value and its index (the Raft log
 * index that produced it, used as the model objects' `version`). Any KV record
 * (`{value, updated, created, expire?, index}`) satisfies it; the model never depends on the KV
 * implementation.
 *
 * Types only: no I/O, no network.
 */

export interface KvRecordView {
  readonly value: string;
  readonly index: number;
}

/** Keys and records in KV iteration (insertion) order. */
export type KvEntries = Iterable<readonly [key: string, record: KvRecordView]>;
