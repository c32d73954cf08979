/**
 * One chaos run on real processes: a network of namespaces (./netns.ts), a controller and a
 * workload client in each (./cluster.ts), a Patroni-shaped workload while a seeded fault schedule
 * (./schedule.ts) partitions, pauses and kills the controllers, then heal, recovery, convergence
 * and the checks (./checks.ts). Returns a report; never throws for a violation (the report lists
 * them), only for a harness failure.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KvRecord } from '../../src/kv/record.js';
import { Rng } from '../sim/rng.js';
import {
  type ChaosOp,
  checkHistoryLinearizable,
  checkLockHolders,
  type OpRole,
  type Violation,
} from './checks.js';
import { ChaosCluster, type ClientProc, now } from './cluster.js';
import { ChaosNet } from './netns.js';
import {
  describeFault,
  type Fault,
  type FaultWindow,
  makeSchedule,
  type Schedule,
  type Target,
} from './schedule.js';

export const LOCK_KEY = '/chaos/leader';

/** JSON for a history: unknown outcomes have their response at +∞, which JSON writes as null */
export const historyJson = (_k: string, v: unknown) => (v === Number.POSITIVE_INFINITY ? 'Infinity' : v);
const CONFIG_KEY = '/chaos/config';
const memberKey = (c: number) => `/chaos/members/c${c}`;
const plainKey = (k: number) => `/chaos/k/${k}`;
const PLAIN_KEYS = 4;
const LOCK_TTL = 3;
const MEMBER_TTL = 4;
/** the retry budget of every workload write (Patroni's retry_timeout, shortened) */
const OP_TIMEOUT = 2;
/** a cluster must have a leader and commit a write within this long after the last heal */
export const RECOVERY_BOUND_MS = 30_000;

/**
 * Whether a run's violations are what a killed Python node can cause, and why; null otherwise.
 * pysyncobj keeps neither its term nor its vote: restarted, Python members may elect one of them at
 * a term they already used and commit entries of that term over entries of later terms. What
 * that explains: a safety check failing, or a raftdcs node that held such an entry as committed
 * and stopped when a later leader's log contradicted it ("conflicts with committed entry") — the
 * run then fails convergence. Any other non-convergence is ours to explain.
 */
function expectedPythonFailure(
  violations: readonly Violation[],
  killedPython: ReadonlySet<number>,
  dir: string,
  slots: number,
): string | null {
  if (violations.length === 0 || killedPython.size === 0) return null;
  const killed = `Python node(s) ${[...killedPython].map((i) => `n${i}`).join(', ')} were killed`;
  const why =
    'pysyncobj persists neither its term nor its vote, so after a restart it may vote again in a term it voted in (two leaders, lost writes)';
  const stopped: string[] = [];
  for (let i = 0; i < slots; i++) {
    let text = '';
    try {
      text = readFileSync(join(dir, `n${i}.log`), 'utf8');
    } catch {
      continue;
    }
    if (text.includes('conflicts with committed entry')) stopped.push(`n${i}`);
  }
  const explained = violations.every(
    (v) =>
      v.check === 'linearizability' ||
      v.check === 'lock' ||
      v.check === 'inconclusive' ||
      (v.check === 'convergence' && stopped.length > 0),
  );
  if (!explained) return null;
  return stopped.length > 0
    ? `${killed}: ${why}; ${stopped.join(', ')} stopped on a leader whose log contradicts an entry it knew committed`
    : `${killed}: ${why}`;
}

export interface RunOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly chaosMs: number;
  /** test-only control: controllers keep no journal, and the schedule ends with a whole-cluster kill */
  readonly unsafeNoJournal?: boolean;
  /** membership changes during the faults (a spare node added, members removed) */
  readonly membership?: boolean;
  /** how many members run Debian's Python controller (the highest indexes) */
  readonly python?: number;
  /** keep the run's directory (logs, data) */
  readonly keep?: boolean;
  readonly log?: (line: string) => void;
}

export interface AppliedFault {
  readonly at: number;
  readonly durationMs: number;
  readonly what: string;
  /** packets the DROP rules counted while the partition stood */
  readonly dropped?: number;
}

export interface RunReport {
  readonly seed: number;
  readonly nodes: number;
  readonly schedule: Schedule;
  readonly applied: AppliedFault[];
  readonly counts: {
    partitions: number;
    pauses: number;
    crashes: number;
    nodesKilled: number;
    membershipChanges: number;
  };
  readonly droppedPackets: number;
  readonly ops: number;
  readonly acked: number;
  readonly unknown: number;
  readonly lockHolds: number;
  readonly recoveryMs: number | null;
  readonly converged: boolean;
  readonly searchSteps: number;
  readonly violations: Violation[];
  /** the members that ran Python's controller */
  readonly pythonNodes: number[];
  /** the nodes seen leading when a fault window opened or the run was checked */
  readonly leadersSeen: number[];
  /**
   * set when a violation can come from a Python node's own weakness (pysyncobj persists neither
   * its term nor its vote, so a killed Python node may vote twice in a term): the reason
   */
  readonly expectedPythonFailure: string | null;
  readonly dir: string;
}

interface Harness {
  readonly net: ChaosNet;
  readonly cluster: ChaosCluster;
  readonly ops: ChaosOp[];
  /** Python members killed during the run (they come back without their term and vote) */
  readonly killedPython: Set<number>;
  stop: boolean;
}

async function record(
  h: Harness,
  client: number,
  c: ClientProc,
  role: OpRole,
  kind: ChaosOp['kind'],
  key: string,
  req: Parameters<ClientProc['request']>[0],
): Promise<ChaosOp> {
  const op: ChaosOp = {
    id: h.ops.length,
    client,
    kind,
    role,
    key,
    invoke: now(),
    response: Number.POSITIVE_INFINITY,
    outcome: 'pending',
    rounds: 0,
  };
  h.ops.push(op);
  const reply = await c.request(req, ((req.timeout ?? OP_TIMEOUT) + 8) * 1000);
  const t = now();
  op.outcome = reply.outcome;
  op.rounds = reply.rounds ?? 0;
  if (reply.command !== undefined) op.command = reply.command;
  if (reply.outcome === 'ok' || reply.outcome === 'false' || reply.outcome === 'precheck-false') {
    op.response = t;
    op.result = reply.result as KvRecord | boolean | null;
  }
  return op;
}

/** One client's Patroni-shaped loop: the leader lock, its member key, the config, plain keys. */
async function clientLoop(h: Harness, client: number, rng: Rng): Promise<void> {
  const c = h.cluster.clients[client] as ClientProc;
  const me = `c${client}`;
  let holding = false;
  let n = 0;
  while (!h.stop) {
    n++;
    const x = rng.next();
    const value = `${me}-${n}`;
    if (x < 0.35) {
      if (holding && rng.chance(0.1)) {
        await record(h, client, c, 'lock-release', 'delete', LOCK_KEY, {
          op: 'delete',
          key: LOCK_KEY,
          cas: { prevValue: me },
          timeout: OP_TIMEOUT,
        });
        holding = false;
      } else {
        const op = await record(h, client, c, holding ? 'lock-refresh' : 'lock-acquire', 'set', LOCK_KEY, {
          op: 'set',
          key: LOCK_KEY,
          value: me,
          ttl: LOCK_TTL,
          cas: holding ? { prevValue: me } : { prevExist: false },
          timeout: OP_TIMEOUT,
        });
        holding = op.outcome === 'ok';
      }
    } else if (x < 0.55) {
      await record(h, client, c, 'member', 'set', memberKey(client), {
        op: 'set',
        key: memberKey(client),
        value,
        ttl: MEMBER_TTL,
        timeout: OP_TIMEOUT,
      });
    } else if (x < 0.7) {
      // Patroni's config update: read, then write with the index it read
      const read = await record(h, client, c, 'read', 'read', CONFIG_KEY, { op: 'get', key: CONFIG_KEY });
      const rec = read.result as KvRecord | null | undefined;
      await record(h, client, c, 'config', 'set', CONFIG_KEY, {
        op: 'set',
        key: CONFIG_KEY,
        value,
        cas: rec ? { prevIndex: rec.index } : { prevExist: false },
        timeout: OP_TIMEOUT,
      });
    } else if (x < 0.9) {
      const key = plainKey(rng.int(0, PLAIN_KEYS - 1));
      await record(h, client, c, 'plain', 'set', key, { op: 'set', key, value, timeout: OP_TIMEOUT });
    } else {
      const key = plainKey(rng.int(0, PLAIN_KEYS - 1));
      await record(h, client, c, 'read', 'read', key, { op: 'get', key });
      await record(h, client, c, 'plain-delete', 'delete', key, { op: 'delete', key, timeout: OP_TIMEOUT });
    }
    await new Promise((r) => setTimeout(r, rng.int(20, 150)));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A member: the leader, or the scheduled index (mapped onto the members as they are now). */
async function resolveTarget(h: Harness, t: Target, rng: Rng): Promise<number> {
  const ids = h.cluster.memberList();
  if (t !== 'leader') return ids.includes(t) ? t : (ids[t % ids.length] as number);
  const l = await h.cluster.leader();
  return l ?? (ids[rng.int(0, ids.length - 1)] as number);
}

/** Open a fault window; returns what undoes it. */
async function openWindow(
  h: Harness,
  f: Fault,
  rng: Rng,
): Promise<{ what: string; undo: () => Promise<void>; partition: boolean }> {
  const { net, cluster } = h;
  switch (f.kind) {
    case 'isolate': {
      const i = await resolveTarget(h, f.target, rng);
      await net.isolate(i);
      return { what: `isolate n${i}`, undo: async () => net.heal(), partition: true };
    }
    case 'split': {
      let side = [...f.minority];
      const l = f.withLeader ? await cluster.leader() : null;
      if (l !== null && !side.includes(l)) side = [...side.slice(1), l];
      await net.split(side);
      return {
        what: `split {${side.map((i) => `n${i}`).join(',')}} | rest`,
        undo: async () => net.heal(),
        partition: true,
      };
    }
    case 'bridge': {
      const via = await resolveTarget(h, f.via, rng);
      const others = cluster.memberList().filter((i) => i !== via);
      const half = Math.ceil(others.length / 2);
      const a = others.slice(0, half);
      const b = others.slice(half);
      await net.bridge(a, b, via);
      return {
        what: `bridge {${a.map((i) => `n${i}`).join(',')}} | {${b.map((i) => `n${i}`).join(',')}} via n${via}`,
        undo: async () => net.heal(),
        partition: true,
      };
    }
    case 'one-way': {
      const from = await resolveTarget(h, f.from, rng);
      let to = await resolveTarget(h, f.to, rng);
      if (to === from) {
        const ids = cluster.memberList();
        to = ids[(ids.indexOf(from) + 1) % ids.length] as number;
      }
      await net.oneWay(from, to);
      return { what: `drop n${from} -> n${to}`, undo: async () => net.heal(), partition: true };
    }
    case 'pause': {
      const i = await resolveTarget(h, f.target, rng);
      cluster.pause(i);
      return { what: `SIGSTOP n${i}`, undo: async () => cluster.resume(i), partition: false };
    }
    case 'crash': {
      const ids = [...new Set(await Promise.all(f.targets.map((t) => resolveTarget(h, t, rng))))];
      for (const i of ids) cluster.kill9(i);
      for (const i of ids) if (cluster.isPython(i)) h.killedPython.add(i);
      return {
        what: `kill -9 ${ids.map((i) => `n${i}`).join(',')}`,
        undo: async () => {
          // (a member removed meanwhile stays down)
          for (const i of ids) if (cluster.members.has(i)) await cluster.restart(i);
        },
        partition: false,
      };
    }
  }
}

export async function runChaos(o: RunOptions): Promise<RunReport> {
  const log = o.log ?? (() => undefined);
  const schedule = makeSchedule(o.seed, o.nodes, o.chaosMs);
  const windows: FaultWindow[] = o.unsafeNoJournal
    ? [
        ...schedule.windows.filter((w) => w.fault.kind !== 'crash'),
        {
          at: schedule.chaosMs,
          durationMs: 1000,
          fault: { kind: 'crash', targets: Array.from({ length: o.nodes }, (_, i) => i) },
        },
      ]
    : [...schedule.windows];
  const dir = mkdtempSync(join(tmpdir(), `raftdcs-chaos-${o.seed}-`));
  const membership = o.membership === true && !o.unsafeNoJournal;
  const changes = membership ? makeSchedule(o.seed, o.nodes, o.chaosMs, true).membershipChanges : [];
  const slots = o.nodes + (membership ? 1 : 0);
  const net = await ChaosNet.create({ nodes: slots });
  const pythonNodes = Array.from(
    { length: Math.min(o.python ?? 0, o.nodes) },
    (_, k) => o.nodes - 1 - k,
  ).sort();
  const cluster = new ChaosCluster({
    net,
    nodes: o.nodes,
    slots,
    root: dir,
    unsafeNoJournal: o.unsafeNoJournal,
    python: pythonNodes,
  });
  const killedPython = new Set<number>();
  const h: Harness = { net, cluster, ops: [], killedPython, stop: false };
  const applied: AppliedFault[] = [];
  const counts = { partitions: 0, pauses: 0, crashes: 0, nodesKilled: 0, membershipChanges: 0 };
  const violations: Violation[] = [];
  let recoveryMs: number | null = null;
  let converged = false;
  const rng = new Rng(o.seed);
  try {
    await cluster.start();
    // a leader before the workload starts (bounded)
    const t0 = now();
    while ((await cluster.leader()) === null) {
      if (now() - t0 > 30_000) throw new Error('no leader within 30 s of starting the cluster');
      await sleep(100);
    }
    const loops = cluster.clients.map((_, i) => clientLoop(h, i, rng.fork()));
    await sleep(1000);
    const faultRng = rng.fork();
    const memberRng = rng.fork();
    const chaosStart = now();
    // membership changes on their own timeline, so they land during faults
    const memberChanges = (async () => {
      for (const t of changes) {
        const wait = chaosStart + t - now();
        if (wait > 0) await sleep(wait);
        const at = Math.round(now() - chaosStart);
        const out = Array.from({ length: slots }, (_, i) => i).find((i) => !cluster.members.has(i));
        let what: string;
        if (out !== undefined) {
          await cluster.addMember(out);
          what = `add n${out} (a new, empty node asks to join)`;
        } else {
          const ids = cluster.memberList();
          const victim = ids[memberRng.int(0, ids.length - 1)] as number;
          const leader = await cluster.leader();
          const via =
            leader !== null && leader !== victim ? leader : (ids.find((i) => i !== victim) as number);
          const reply = await cluster.removeMember(victim, via);
          what = `remove n${victim} via n${via}: ${reply}`;
        }
        if (!what.includes(': ') || what.includes('SUCCESS')) counts.membershipChanges++;
        log(`  +${at} ms ${what}`);
        applied.push({ at, durationMs: 0, what });
      }
    })();
    for (const w of windows) {
      const wait = chaosStart + w.at - now();
      if (wait > 0) await sleep(wait);
      const dropsBefore = await net.droppedPackets();
      const opened = await openWindow(h, w.fault, faultRng);
      const at = Math.round(now() - chaosStart);
      log(`  +${at} ms ${opened.what} (${describeFault(w.fault)}) for ${w.durationMs} ms`);
      await sleep(w.durationMs);
      const dropped = opened.partition ? (await net.droppedPackets()) - dropsBefore : undefined;
      await opened.undo();
      applied.push({
        at,
        durationMs: w.durationMs,
        what: opened.what,
        ...(dropped === undefined ? {} : { dropped }),
      });
      if (opened.partition) counts.partitions++;
      else if (w.fault.kind === 'pause') counts.pauses++;
      else {
        counts.crashes++;
        counts.nodesKilled += opened.what.split(',').length;
      }
    }
    await memberChanges;
    // heal everything (the last window was undone already); let the workload see a healthy cluster
    await net.heal();
    for (const i of cluster.memberList()) {
      if (cluster.stateOf(i) === 'paused') cluster.resume(i);
      if (cluster.stateOf(i) === 'dead') await cluster.restart(i);
    }
    const healedAt = now();
    await sleep(1500);
    h.stop = true;
    await Promise.all(loops);
    // recovery: a probe write must commit within the bound after the heal. It goes through a
    // fresh client that knows nothing from before, so the final reads show the controllers' state
    const probeClient = await cluster.startClient(0);
    cluster.clients.push(probeClient);
    const observer = cluster.clients.length - 1;
    let probe: ChaosOp | null = null;
    for (let k = 0; now() - healedAt < RECOVERY_BOUND_MS + 5000 && k < 100; k++) {
      probe = await record(h, observer, probeClient, 'probe', 'set', '/chaos/probe', {
        op: 'set',
        key: '/chaos/probe',
        value: `probe-${k}`,
        timeout: 2,
      });
      if (probe.outcome === 'ok') break;
    }
    // recovery: the first write invoked after the heal that was acknowledged (the probe at the latest)
    const firstAfterHeal = h.ops
      .filter((op) => op.kind !== 'read' && op.invoke >= healedAt && op.outcome === 'ok')
      .reduce((m, op) => Math.min(m, op.response), Number.POSITIVE_INFINITY);
    if (Number.isFinite(firstAfterHeal)) recoveryMs = Math.round(firstAfterHeal - healedAt);
    if (recoveryMs === null || recoveryMs > RECOVERY_BOUND_MS) {
      violations.push({
        check: 'recovery',
        detail: ` no write committed within ${RECOVERY_BOUND_MS} ms of the heal (${recoveryMs ?? 'never'})`,
      });
    } else {
      // final reads, linearizable: after a probe write that follows every workload operation
      const keys = [LOCK_KEY, CONFIG_KEY, ...cluster.clients.slice(0, observer).map((_, i) => memberKey(i))];
      for (let k = 0; k < PLAIN_KEYS; k++) keys.push(plainKey(k));
      for (const key of keys) {
        const op = await record(h, observer, probeClient, 'final', 'read', key, { op: 'get', key });
        if (op.outcome !== 'ok') throw new Error(`final read of ${key} failed: ${op.outcome}`);
      }
      const probeIndex = (probe?.result as KvRecord | undefined)?.index ?? 0;
      // convergence: every member (as the leader lists them) at one commit and applied index
      const tc = now();
      let last = '';
      while (now() - tc < 20_000) {
        const v = await cluster.leaderView();
        if (v !== null) {
          const st = v.members.map((i) => v.status[i] ?? null);
          const c = st[0]?.commit;
          last = JSON.stringify(v.members.map((i) => ({ node: `n${i}`, ...v.status[i] })));
          if (
            c !== undefined &&
            c >= probeIndex &&
            st.every((x) => x !== null && x.commit === c && x.applied === c)
          ) {
            converged = true;
            // a node the harness started that the cluster never listed: its join never went through
            // (nobody answered `members` when it started, so it never asked; Patroni's nodes alike)
            for (const i of cluster.memberList()) {
              if (!v.members.includes(i)) log(`  note: n${i} was started but never became a member`);
            }
            break;
          }
        }
        await sleep(200);
      }
      if (!converged) {
        violations.push({
          check: 'convergence',
          detail: `members not at one commit index within 20 s: ${last || 'no leader'}`,
        });
      }
    }
    const lin = checkHistoryLinearizable(h.ops);
    violations.push(...lin.violations);
    const locks = checkLockHolders(h.ops, LOCK_KEY);
    violations.push(...locks.violations);
    const writes = h.ops.filter((op) => op.kind !== 'read');
    if (violations.length > 0) {
      // the recorded history, for `npm run chaos -- --check-history <file>` (replayable checks)
      writeFileSync(join(dir, 'history.json'), `${JSON.stringify(h.ops, historyJson)}\n`);
      log(`    history saved: ${join(dir, 'history.json')}`);
    }
    return {
      seed: o.seed,
      nodes: o.nodes,
      schedule,
      applied,
      counts,
      droppedPackets: await net.droppedPackets(),
      ops: h.ops.length,
      acked: writes.filter((op) => op.outcome === 'ok').length,
      unknown: writes.filter((op) => op.outcome === 'unknown' || op.outcome === 'error').length,
      lockHolds: locks.holds.length,
      recoveryMs,
      converged,
      searchSteps: lin.steps,
      violations,
      pythonNodes,
      leadersSeen: [...cluster.leadersSeen].sort((a, b) => a - b),
      expectedPythonFailure: expectedPythonFailure(violations, killedPython, dir, o.nodes + 1),
      dir,
    };
  } finally {
    h.stop = true;
    await cluster.destroy();
    await net.destroy();
    if (!o.keep && violations.length === 0) rmSync(dir, { recursive: true, force: true });
  }
}
