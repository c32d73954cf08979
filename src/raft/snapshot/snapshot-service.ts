/**
 * The node's side of the backup commands (./utility-protocol.ts): `snapshot` takes a dump of the
 * state at the applied index and hands it out in chunks, `snapshot_chunk` serves the rest of a
 * large one, `compact` compacts the log now. SyncObj registers them on its UtilityCommands.
 *
 * Consistency: the dump is taken in one synchronous step (RaftDriver.dumpNow, what a compaction
 * dumps); encoding and hashing run afterwards without holding up the event loop for long.
 *
 * It must never hold more than MAX_HELD encoded snapshots (the oldest is dropped), nor one longer
 * than SNAPSHOT_HOLD_MS after its last use (prune() runs on every tick), nor one that fits in its
 * first reply; concurrent `snapshot` requests share the dump in progress.
 */
import { createHash } from 'node:crypto';
import type { PyValue } from '../../wire/value.js';
import type { CompactionOutcome } from '../runtime/driver.js';
import type { Scheduler } from '../runtime/scheduler.js';
import type { UtilityCommands, UtilityReply } from '../utility-commands.js';
import type { Dump } from './dump.js';
import {
  COMPACT_COMMAND,
  chunkToPy,
  compactionToPy,
  failReply,
  offerToPy,
  SNAPSHOT_CHUNK_BYTES,
  SNAPSHOT_CHUNK_COMMAND,
  SNAPSHOT_COMMAND,
  SNAPSHOT_HOLD_MS,
  type SnapshotOffer,
} from './utility-protocol.js';

/** Encoded snapshots kept for chunked download at most. */
const MAX_HELD = 2;

/** What the service needs from the node. */
export interface SnapshotHost {
  readonly selfAddress: string;
  readonly scheduler: Scheduler;
  /** the dump at the applied index, now (throws when there is none) */
  dumpNow(): Dump;
  encodeDump(dump: Dump): Promise<Uint8Array>;
  compactNow(): Promise<CompactionOutcome>;
  raftTerm(): number;
  commitIndex(): number;
}

interface Held {
  readonly offer: SnapshotOffer;
  readonly gz: Uint8Array;
  lastUseMs: number;
}

export class SnapshotService {
  private readonly held = new Map<string, Held>();
  private inProgress: Promise<Held> | null = null;
  private counter = 0;

  constructor(private readonly host: SnapshotHost) {}

  /** Serve the commands on `utilities`. */
  register(utilities: UtilityCommands): void {
    utilities.register(SNAPSHOT_COMMAND, (_args, reply) => this.serveSnapshot(reply));
    utilities.register(SNAPSHOT_CHUNK_COMMAND, (args, reply) => this.serveChunk(args, reply));
    utilities.register(COMPACT_COMMAND, (_args, reply) => this.serveCompact(reply));
  }

  /** Drop the snapshots nobody asked for in SNAPSHOT_HOLD_MS. */
  prune(): void {
    const now = this.host.scheduler.now();
    for (const [id, h] of this.held) if (now - h.lastUseMs > SNAPSHOT_HOLD_MS) this.held.delete(id);
  }

  /** Forget every held snapshot (the node stops). */
  clear(): void {
    this.held.clear();
  }

  private serveSnapshot(reply: UtilityReply): void {
    this.prune();
    if (this.inProgress === null) {
      let dump: Dump;
      try {
        dump = this.host.dumpNow();
      } catch (e) {
        reply(failReply(SNAPSHOT_COMMAND, (e as Error).message));
        return;
      }
      const raftTerm = this.host.raftTerm();
      const commitIndex = this.host.commitIndex();
      const started = this.encode(dump, raftTerm, commitIndex);
      this.inProgress = started;
      const done = () => {
        if (this.inProgress === started) this.inProgress = null;
      };
      started.then(done, done);
    }
    this.inProgress.then(
      (h) => {
        h.lastUseMs = this.host.scheduler.now();
        reply(offerToPy(h.offer, h.gz.subarray(0, SNAPSHOT_CHUNK_BYTES)));
        if (h.gz.length <= SNAPSHOT_CHUNK_BYTES) this.held.delete(h.offer.id); // all of it sent already
      },
      (e: unknown) => reply(failReply(SNAPSHOT_COMMAND, `the dump could not be encoded: ${String(e)}`)),
    );
  }

  private async encode(dump: Dump, raftTerm: number, commitIndex: number): Promise<Held> {
    const gz = await this.host.encodeDump(dump);
    const sha256 = await this.hash(gz);
    const offer: SnapshotOffer = {
      id: `${++this.counter}-${dump.lastEntry.index}`,
      node: this.host.selfAddress,
      lastIndex: dump.lastEntry.index,
      lastTerm: dump.lastEntry.term,
      prevIndex: dump.prevEntry.index,
      prevTerm: dump.prevEntry.term,
      cluster: dump.cluster,
      raftTerm,
      commitIndex,
      size: gz.length,
      sha256,
    };
    const h: Held = { offer, gz, lastUseMs: this.host.scheduler.now() };
    this.held.set(offer.id, h);
    while (this.held.size > MAX_HELD) {
      const oldest = this.held.keys().next().value;
      if (oldest === undefined) break;
      this.held.delete(oldest);
    }
    return h;
  }

  /** SHA-256 of `bytes`, a chunk per event-loop turn. */
  private async hash(bytes: Uint8Array): Promise<string> {
    const h = createHash('sha256');
    for (let at = 0; at < bytes.length; at += SNAPSHOT_CHUNK_BYTES) {
      h.update(bytes.subarray(at, at + SNAPSHOT_CHUNK_BYTES));
      if (at + SNAPSHOT_CHUNK_BYTES < bytes.length) {
        await new Promise<void>((resolve) => this.host.scheduler.defer(resolve));
      }
    }
    return h.digest('hex');
  }

  private serveChunk(args: readonly PyValue[], reply: UtilityReply): void {
    this.prune();
    const [id, offset] = args;
    if (typeof id !== 'string' || typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
      reply(failReply(SNAPSHOT_CHUNK_COMMAND, 'expected the arguments (id: str, offset: int >= 0)'));
      return;
    }
    const h = this.held.get(id);
    if (h === undefined) {
      reply(
        failReply(
          SNAPSHOT_CHUNK_COMMAND,
          `no snapshot ${JSON.stringify(id)} here (a snapshot is kept ${SNAPSHOT_HOLD_MS / 1000} s after its ` +
            'last use, and only the newest ones): ask for a new one',
        ),
      );
      return;
    }
    if (offset >= h.gz.length) {
      reply(failReply(SNAPSHOT_CHUNK_COMMAND, `offset ${offset} is past the end (${h.gz.length} bytes)`));
      return;
    }
    h.lastUseMs = this.host.scheduler.now();
    const end = Math.min(h.gz.length, offset + SNAPSHOT_CHUNK_BYTES);
    reply(chunkToPy({ id, offset, data: h.gz.subarray(offset, end) }));
  }

  private serveCompact(reply: UtilityReply): void {
    this.host.compactNow().then(
      (outcome) => reply(compactionToPy(outcome)),
      (e: unknown) => reply(failReply(COMPACT_COMMAND, e instanceof Error ? e.message : String(e))),
    );
  }
}
