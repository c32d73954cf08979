/**
 * The runtime's view of time: a monotonic clock, the wall clock, one-shot timers and deferred
 * callbacks. Production uses Node's (`realScheduler`); the simulator hands the runtime a virtual
 * one whose every timer and deferred callback is an event in its queue, so a whole cluster of
 * real nodes replays exactly from a seed.
 *
 * Nothing here may be called re-entrantly by an implementation: `defer` and timers always run
 * their callback later, never inside the call that scheduled it.
 */
import { performance } from 'node:perf_hooks';

export interface TimerHandle {
  cancel(): void;
}

export interface Scheduler {
  /** monotonic milliseconds (any epoch, never goes back) */
  now(): number;
  /** wall clock, epoch milliseconds (may step) */
  wallNow(): number;
  /** run `fn` once after `delayMs` */
  setTimer(delayMs: number, fn: () => void): TimerHandle;
  /** run `fn` after the current event, once pending I/O has been read (Node's setImmediate) */
  defer(fn: () => void): void;
}

/** Node's clocks and timers. */
export const realScheduler: Scheduler = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(delayMs, fn) {
    const t = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(t) };
  },
  defer(fn) {
    setImmediate(fn);
  },
};
