import { describe, expect, it } from 'vitest';
import { EventQueue } from './event-queue.js';
import { runIn, type SimClock, type SimLife } from './seams.js';

/** A bare clock over the simulator's event queue. */
function clock(): SimClock & { runAll(): void } {
  const queue = new EventQueue();
  const c = {
    now: 0,
    at(at: number, fn: () => void) {
      queue.push(at, fn);
    },
    runAll() {
      for (let guard = 0; guard < 1000; guard++) {
        const ev = queue.pop();
        if (!ev) return;
        c.now = ev.at;
        ev.run();
      }
      throw new Error('event queue did not empty');
    },
  };
  return c;
}

describe('runIn (a paused process)', () => {
  it('runs what waited during a pause in arrival order, also when the pause was extended meanwhile', () => {
    const c = clock();
    const life: SimLife = { alive: true, pausedUntil: 100 };
    const ran: string[] = [];
    c.at(10, () => runIn(c, life, () => ran.push(`down@${c.now}`)));
    c.at(50, () => {
      life.pausedUntil = 200;
    });
    c.at(60, () => runIn(c, life, () => ran.push(`up@${c.now}`)));
    // arrives while the waiting callbacks are being run: after them
    c.at(200, () => runIn(c, life, () => ran.push(`late@${c.now}`)));
    c.runAll();
    expect(ran).toEqual(['down@200', 'up@200', 'late@200']);
  });

  it('runs at once when not paused, and never after the life ended', () => {
    const c = clock();
    const life: SimLife = { alive: true, pausedUntil: 0 };
    const ran: string[] = [];
    runIn(c, life, () => ran.push('now'));
    life.pausedUntil = 50;
    runIn(c, life, () => ran.push('after crash'));
    (life as { alive: boolean }).alive = false;
    c.runAll();
    expect(ran).toEqual(['now']);
  });
});
