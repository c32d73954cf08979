/**
 * When the runtime last ticked and when it last heard from each peer, on the scheduler's monotonic
 * clock — the raw facts behind a health check (src/cli/health.ts): "is the Raft loop still
 * running?" and "has the leader / a majority of voters answered lately?".
 *
 * The pure core keeps its own notion of leader contact for its decisions; this is the runtime's
 * record of what actually happened (a tick ran, a message arrived), kept outside the core so that
 * reading it can never change a Raft decision.
 *
 * It must never grow without bound: a peer is forgotten when its connection is lost (read-only
 * peers come and go under fresh transport-assigned ids).
 */

/** A copy of the record at one moment. */
export interface LivenessSnapshot {
  /** the scheduler's monotonic clock when the snapshot was taken (ms) */
  readonly nowMs: number;
  /** when the record started: the node's creation (ms, same clock) */
  readonly sinceMs: number;
  /** when the last tick completed (ms, same clock), or null before the first */
  readonly lastTickMs: number | null;
  /** ticks completed since the node was created */
  readonly ticks: number;
  /** when a Raft message last arrived from each connected peer that sent one (ms, same clock) */
  readonly lastHeardMs: ReadonlyMap<string, number>;
}

export class LivenessRecord {
  private lastTickMs: number | null = null;
  private ticks = 0;
  private readonly lastHeardMs = new Map<string, number>();

  constructor(private readonly sinceMs: number) {}

  /** A tick of the core ran to its end. */
  ticked(nowMs: number): void {
    this.lastTickMs = nowMs;
    this.ticks++;
  }

  /** A Raft message from `peer` arrived (and was handed to the core). */
  heard(peer: string, nowMs: number): void {
    this.lastHeardMs.set(peer, nowMs);
  }

  /** The connection to `peer` is gone: nothing heard from it counts any more. */
  forget(peer: string): void {
    this.lastHeardMs.delete(peer);
  }

  snapshot(nowMs: number): LivenessSnapshot {
    return {
      nowMs,
      sinceMs: this.sinceMs,
      lastTickMs: this.lastTickMs,
      ticks: this.ticks,
      lastHeardMs: new Map(this.lastHeardMs),
    };
  }
}
