/**
 * Seeded fault schedules for chaos runs: a list of fault windows, each a fault that starts at `at`
 * (ms after the chaos phase began) and is undone `durationMs` later, then a quiet gap. The same
 * seed and node count always give the same schedule (printed with every run, replayed with
 * `npm run chaos -- --seed N --nodes K`); what a target like "the leader" resolves to is decided
 * when the window opens and is reported with the run.
 */
import { Rng } from '../sim/rng.js';

/** Who a fault strikes: a node by index, or the node leading when the window opens. */
export type Target = number | 'leader';

export type Fault =
  /** one node cut from every other node (both directions) */
  | { readonly kind: 'isolate'; readonly target: Target }
  /** the cluster split in two: `minority` on one side (it may hold the leader) */
  | { readonly kind: 'split'; readonly minority: readonly number[]; readonly withLeader: boolean }
  /** two sides that cannot talk, and one node (`via`) that sees both */
  | { readonly kind: 'bridge'; readonly via: Target }
  /** packets from `from` to `to` dropped, the other direction kept */
  | { readonly kind: 'one-way'; readonly from: Target; readonly to: Target }
  /** SIGSTOP for the window, then SIGCONT */
  | { readonly kind: 'pause'; readonly target: Target }
  /** kill -9 of these nodes (all of them included), restarted when the window ends */
  | { readonly kind: 'crash'; readonly targets: readonly Target[] };

export interface FaultWindow {
  readonly at: number;
  readonly durationMs: number;
  readonly fault: Fault;
}

export interface Schedule {
  readonly seed: number;
  readonly nodes: number;
  readonly chaosMs: number;
  readonly windows: readonly FaultWindow[];
  /**
   * moments (ms after the chaos phase began) of membership changes, independent of the windows
   * (so they happen during faults): each adds the spare node when it is out, else removes a member
   */
  readonly membershipChanges: readonly number[];
}

function subset(r: Rng, n: number, k: number): number[] {
  const all = Array.from({ length: n }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [all[i], all[j]] = [all[j] as number, all[i] as number];
  }
  return all.slice(0, k).sort((a, b) => a - b);
}

function target(r: Rng, n: number): Target {
  return r.chance(0.6) ? 'leader' : r.int(0, n - 1);
}

function fault(r: Rng, n: number): Fault {
  const x = r.next();
  if (x < 0.2) return { kind: 'isolate', target: target(r, n) };
  if (x < 0.35) {
    const minority = subset(r, n, r.int(1, Math.floor((n - 1) / 2)));
    return { kind: 'split', minority, withLeader: r.chance(0.6) };
  }
  if (x < 0.45) return { kind: 'bridge', via: target(r, n) };
  if (x < 0.55) {
    const from = target(r, n);
    let to: Target = r.int(0, n - 1);
    if (to === from) to = ((to as number) + 1) % n;
    return { kind: 'one-way', from, to };
  }
  if (x < 0.75) return { kind: 'pause', target: target(r, n) };
  // crashes: one node (often the leader), a minority, a majority, or all of them
  const y = r.next();
  const k = y < 0.45 ? 1 : y < 0.65 ? Math.floor((n - 1) / 2) || 1 : y < 0.8 ? Math.floor(n / 2) + 1 : n;
  const targets: Target[] = k === 1 ? [target(r, n)] : subset(r, n, k);
  return { kind: 'crash', targets };
}

/**
 * Fault windows filling `chaosMs`: each 1–4 s (pauses past the election timeout), gaps 0.3–2 s;
 * with `membership`, one to three membership changes drawn from a separate stream (the windows of
 * a seed are the same either way).
 */
export function makeSchedule(seed: number, nodes: number, chaosMs: number, membership = false): Schedule {
  const r = new Rng(seed * 7919 + nodes);
  const windows: FaultWindow[] = [];
  let t = r.int(500, 1500);
  while (t < chaosMs) {
    const f = fault(r, nodes);
    const durationMs = f.kind === 'crash' ? r.int(300, 3000) : r.int(1000, 4000);
    windows.push({ at: t, durationMs, fault: f });
    t += durationMs + r.int(300, 2000);
  }
  const m = new Rng(seed * 104729 + nodes);
  const membershipChanges = membership
    ? Array.from({ length: m.int(1, 3) }, () => m.int(1000, Math.max(1000, chaosMs - 1000))).sort(
        (a, b) => a - b,
      )
    : [];
  return { seed, nodes, chaosMs, windows, membershipChanges };
}

export function describeTarget(t: Target): string {
  return t === 'leader' ? 'the leader' : `n${t}`;
}

export function describeFault(f: Fault): string {
  switch (f.kind) {
    case 'isolate':
      return `isolate ${describeTarget(f.target)}`;
    case 'split':
      return `split off {${f.minority.map((i) => `n${i}`).join(',')}}${f.withLeader ? ' with the leader' : ''}`;
    case 'bridge':
      return `bridge via ${describeTarget(f.via)}`;
    case 'one-way':
      return `drop ${describeTarget(f.from)} -> ${describeTarget(f.to)}`;
    case 'pause':
      return `SIGSTOP ${describeTarget(f.target)}`;
    case 'crash':
      return `kill -9 ${f.targets.map(describeTarget).join(',')}`;
  }
}

export function describeSchedule(s: Schedule): string {
  return [
    `schedule seed ${s.seed}, ${s.nodes} nodes, ${s.windows.length} faults in ${s.chaosMs} ms:`,
    ...s.windows.map((w) => `  +${w.at} ms for ${w.durationMs} ms: ${describeFault(w.fault)}`),
    ...s.membershipChanges.map(
      (t) => `  +${t} ms: membership change (add the spare node, or remove a member)`,
    ),
  ].join('\n');
}
