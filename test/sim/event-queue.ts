/** The simulator's event queue: a binary heap ordered by virtual time, then by insertion. */

interface SimEvent {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
}

/** A binary heap of events ordered by time, then by insertion (ties replay deterministically). */
export class EventQueue {
  private heap: SimEvent[] = [];
  private seq = 0;

  push(at: number, run: () => void): void {
    const ev: SimEvent = { at, seq: this.seq++, run };
    const h = this.heap;
    h.push(ev);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (less(h[parent] as SimEvent, ev)) break;
      h[i] = h[parent] as SimEvent;
      i = parent;
    }
    h[i] = ev;
  }

  pop(): SimEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0] as SimEvent;
    const last = h.pop() as SimEvent;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && less(h[r] as SimEvent, h[l] as SimEvent) ? r : l;
        if (less(last, h[c] as SimEvent)) break;
        h[i] = h[c] as SimEvent;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function less(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
