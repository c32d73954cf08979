/**
 * Simulated implementations of the runtime's seams (src/raft/runtime): the scheduler, the journal,
 * the dump store and the dump codec of one node life. Every asynchronous completion — an fsync, a
 * dump write, a dump encode or decode — is an event of the simulation with its own random latency,
 * free to interleave with anything else; everything a crashed node life scheduled is dropped.
 * The bytes are real: dumps are pickled and gzipped by the project's own codec.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { HardState, LogEntry } from '../../src/raft/core/types.js';
import type { Journal, JournalState } from '../../src/raft/journal/types.js';
import type { DumpCodec } from '../../src/raft/runtime/dump-codec.js';
import type { Scheduler, TimerHandle } from '../../src/raft/runtime/scheduler.js';
import { type Dump, decodeDumpPickle, encodeDumpPickle } from '../../src/raft/snapshot/dump.js';
import type { DumpStore } from '../../src/raft/snapshot/dump-store.js';
import type { SimDisk } from './disk.js';
import type { Rng } from './rng.js';

/** What the seams need of the simulation: its clock and event queue. */
export interface SimClock {
  readonly now: number;
  /** run `fn` at virtual time `at` (events at one time run in the order they were scheduled) */
  at(at: number, fn: () => void): void;
}

/** One life of a simulated process: its events run only while it is this life. */
export interface SimLife {
  /** false once the process crashed or was stopped */
  readonly alive: boolean;
  /** the process is stopped (SIGSTOP) until then: its events wait, in order */
  pausedUntil: number;
}

/** What a paused process has to run when it resumes, in arrival order (see runIn). */
const waiting = new WeakMap<SimLife, (() => void)[]>();

/**
 * Run `fn` as `life`: dropped once the life ended, postponed while the process is paused. What
 * waits runs after the pause in the order it arrived — one event each, so promise continuations
 * run between them as after Node's I/O callbacks — even when the pause was extended meanwhile, and
 * nothing that arrives later overtakes it.
 */
export function runIn(clock: SimClock, life: SimLife, fn: () => void): void {
  if (!life.alive) return;
  const queue = waiting.get(life);
  if (queue) {
    queue.push(fn);
    return;
  }
  if (life.pausedUntil > clock.now) {
    waiting.set(life, [fn]);
    clock.at(life.pausedUntil, () => runWaiting(clock, life));
    return;
  }
  fn();
}

function runWaiting(clock: SimClock, life: SimLife): void {
  const queue = waiting.get(life);
  if (!queue) return;
  if (!life.alive) {
    waiting.delete(life);
    return;
  }
  if (life.pausedUntil > clock.now) {
    clock.at(life.pausedUntil, () => runWaiting(clock, life));
    return;
  }
  const fn = queue.shift() as () => void;
  if (queue.length === 0) waiting.delete(life);
  else clock.at(clock.now, () => runWaiting(clock, life));
  fn();
}

/** Latency ranges (ms) of the asynchronous completions of a node. */
export interface SimLatencies {
  readonly fsyncMinMs: number;
  readonly fsyncMaxMs: number;
  readonly dumpWriteMaxMs: number;
  readonly codecMaxMs: number;
}

export class SimScheduler implements Scheduler {
  /** deferred callbacks waiting for this event-loop iteration's check phase */
  private immediates: (() => void)[] = [];
  private checkPhaseDue = false;

  constructor(
    private readonly clock: SimClock,
    private readonly life: SimLife,
    /** this node's wall clock minus virtual time (epoch ms) */
    private readonly wallOffsetMs: number,
    /**
     * How long the rest of the current event-loop iteration lasts (ms): Node runs `setImmediate`
     * callbacks only after the poll phase handled all the I/O ready meanwhile, so a message or a
     * completion arriving within this time is handled before what the node deferred.
     */
    private readonly loopRestMs: () => number = () => 0,
  ) {}

  now(): number {
    return this.clock.now;
  }

  wallNow(): number {
    return this.clock.now + this.wallOffsetMs;
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    let cancelled = false;
    this.clock.at(this.clock.now + Math.max(0, delayMs), () => {
      if (!cancelled) runIn(this.clock, this.life, fn);
    });
    return {
      cancel: () => {
        cancelled = true;
      },
    };
  }

  defer(fn: () => void): void {
    this.immediates.push(fn);
    if (this.checkPhaseDue) return;
    this.checkPhaseDue = true;
    this.clock.at(this.clock.now + this.loopRestMs(), () => this.checkPhase());
  }

  /**
   * The check phase: the callbacks deferred so far run in order, each its own event (promise
   * continuations run between them, as in Node); what they defer waits for the next iteration.
   */
  private checkPhase(): void {
    this.checkPhaseDue = false;
    const due = this.immediates;
    this.immediates = [];
    const [first, ...rest] = due;
    for (const fn of rest) this.clock.at(this.clock.now, () => runIn(this.clock, this.life, fn));
    if (first) runIn(this.clock, this.life, first);
  }
}

/** Run `make` now and settle the returned promise after `latencyMs` (never, if the life ends). */
function later<T>(clock: SimClock, life: SimLife, latencyMs: number, make: () => T): Promise<T> {
  let value: T;
  let error: unknown;
  let threw = false;
  try {
    value = make();
  } catch (e) {
    error = e;
    threw = true;
  }
  return new Promise<T>((resolve, reject) => {
    clock.at(clock.now + latencyMs, () =>
      runIn(clock, life, () => {
        if (threw) reject(error);
        else resolve(value as T);
      }),
    );
  });
}

/**
 * A journal on a SimDisk: writes go to the disk's volatile cache in order; `sync()` makes the
 * writes issued before it durable after a random fsync latency.
 */
export class SimJournal implements Journal {
  readonly durableImmediately = false;
  private lastCommit = 0;

  constructor(
    private readonly disk: SimDisk,
    private readonly clock: SimClock,
    private readonly life: SimLife,
    private readonly rng: Rng,
    private readonly latency: SimLatencies,
  ) {}

  open(): Promise<JournalState> {
    const s = this.disk.load();
    this.lastCommit = s.commitHint;
    return Promise.resolve({ hardState: s.hardState, entries: s.entries, commitIndex: s.commitHint });
  }

  writeHardState(hardState: HardState): void {
    this.disk.writeHardState(hardState);
  }

  truncateFrom(from: number): void {
    this.disk.truncate(from);
  }

  append(entries: readonly LogEntry[]): void {
    this.disk.append(entries);
  }

  reset(entries: readonly LogEntry[]): void {
    this.disk.reset(entries);
  }

  compact(index: number): void {
    this.disk.compact(index);
  }

  setCommitIndex(index: number): void {
    if (index <= this.lastCommit) return;
    this.lastCommit = index;
    this.disk.writeCommitHint(index);
  }

  sync(): Promise<void> {
    const mark = this.disk.mark;
    const { fsyncMinMs, fsyncMaxMs } = this.latency;
    const delay = fsyncMaxMs > 0 ? this.rng.range(fsyncMinMs, fsyncMaxMs) : 0;
    return later(this.clock, this.life, delay, () => undefined).then(() => this.disk.syncUpTo(mark));
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The durable dump of a node (it outlives node lives). A write becomes durable atomically at its
 * completion (temporary file, fsync, rename); a crash before that keeps the previous dump.
 */
export class SimDumpFile {
  gz: Uint8Array | null = null;
  writes = 0;
}

export class SimDumpStore implements DumpStore {
  readonly description = 'sim dump';

  constructor(
    private readonly file: SimDumpFile,
    private readonly clock: SimClock,
    private readonly life: SimLife,
    private readonly rng: Rng,
    private readonly latency: SimLatencies,
  ) {}

  writeGz(gz: Uint8Array): Promise<void> {
    const delay = this.rng.range(0, this.latency.dumpWriteMaxMs);
    return later(this.clock, this.life, delay, () => undefined).then(() => {
      this.file.gz = gz;
      this.file.writes++;
    });
  }

  read(): Promise<Uint8Array | null> {
    return Promise.resolve(this.file.gz);
  }
}

/** The project's dump format (pickle + gzip), with each encode and decode taking its own time. */
export class SimDumpCodec implements DumpCodec {
  constructor(
    private readonly clock: SimClock,
    private readonly life: SimLife,
    private readonly rng: Rng,
    private readonly latency: SimLatencies,
  ) {}

  encode(dump: Dump): Promise<Uint8Array> {
    return later(this.clock, this.life, this.rng.range(0, this.latency.codecMaxMs), () =>
      gzipSync(encodeDumpPickle(dump), { level: 1 }),
    );
  }

  decode(gz: Uint8Array): Promise<Dump> {
    return later(this.clock, this.life, this.rng.range(0, this.latency.codecMaxMs), () =>
      decodeDumpPickle(gunzipSync(gz)),
    );
  }
}
