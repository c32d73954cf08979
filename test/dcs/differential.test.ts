/**
 * Differential test: one scripted sequence of DCS operations run through Patroni's Python Raft DCS
 * (`patroni.dcs.raft.Raft`, single node, driven by test/dcs/py/raft_dcs_driver.py over JSON lines)
 * and through our `RaftDcs` (single node, real TCP transport and file journal). The Python side is
 * whatever `/usr/bin/python3` imports: Debian's Patroni 3.0.2 (CI), or Patroni 4.x and pysyncobj
 * from their sources when PYTHONPATH points there (docs/testing.md, "Against newer upstream
 * releases"); the driver reports the versions and drives each version's API.
 * After every step it compares: the returned value, the whole KV store (key order, values, indexes,
 * TTL = expire − updated, "created == updated"; timestamps themselves aside) and — for loads — the
 * Cluster both sides build, serialised to one JSON shape; then `watch(None, 0)` on both (the change
 * event rules). Both nodes start fresh, so the Raft log indexes must be identical.
 *
 * Against 3.0.2: where 3.0.2 differs from the 4.x behaviour we follow, the comparison uses the
 * documented 4.x expectation and says why (`FOUR_X` notes below, and per-step `diff`s, `py4x`,
 * `watch4x`, `indexesDiverge`). Each of them was checked against Patroni 4.1.4 itself, which
 * answers as we do, except where marked ✗:
 * - `sync`: 4.x writes `quorum` (3.0.2 does not); `write_sync_state` returns a SyncState / null and
 *   `set_sync_state_value` the new index / false (3.0.2: booleans);
 * - the empty SyncState of 3.0.2 has `sync_standby ""` and version `""`; 4.x null/null;
 * - `failover` legacy text whose parts are both empty: 3.0.2 no object, 4.x an object;
 *   `scheduled_at: ""` is kept as `""` by 3.0.2 and read as "no schedule" (null) by us — ✗ 4.1.4
 *   keeps `""` too (a finding, `differs414` at that step);
 * - `config` holding non-object JSON: 3.0.2 modify_index = index, 4.x 0;
 * - `status` holding a JSON integer: 3.0.2 last_lsn 0, 4.x the integer;
 * - `write_status` carries `slots`/`retain_slots` over and writes `retain_slots` (4.x only);
 * - prevIndex 0: 3.0.2 skips the check (unconditional write), 4.x fails it — the last step, since
 *   the logs diverge from there on;
 * - `update_leader(cluster, …)` / `delete_leader(leader, …)` take the cluster / leader in 4.x; each
 *   side passes the cluster (leader) of its last `get_cluster`, as the HA loop does.
 * Against 4.x none of these readings apply: Python's answers, records, clusters (now also with
 * `retain_slots` and `sync.quorum`) and events must equal ours as they are. Every difference is
 * recorded as a finding, and the findings must be exactly those the scripts declare in
 * `differs414` (each with its reason and Patroni 4.1.4's source lines), so a change on either side
 * fails the test.
 *
 * Not run against Python: an unconditional delete of a missing key (`cancel_initialization` /
 * `delete_sync_state()` without the key) stops Python's apply loop (docs/dcs.md §2.7; 4.1.4's
 * `KVStoreTTL._delete` too); K08/K06 cover our side.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, expect, it } from 'vitest';
import type { Cluster } from '../../src/dcs/model/cluster.js';
import { parseScheduledAt } from '../../src/dcs/model/datetime.js';
import {
  isJsonObject,
  JsonFloat,
  type JsonObject,
  type JsonValue,
  type PyJson,
  type PyJsonDict,
  parsePyJson,
  pyJsonDumps,
} from '../../src/dcs/model/json.js';
import type { SyncState } from '../../src/dcs/model/sync-state.js';
import { RaftDcs } from '../../src/dcs/raft-dcs.js';
import type { KvRecord } from '../../src/kv/record.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { describePython, PYTHON } from '../helpers/python.js';
import { waitFor } from './dcs-helpers.js';

const DRIVER = fileURLToPath(new URL('./py/raft_dcs_driver.py', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'raftdcs-diff-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ------------------------------------------------------------------------------------------------
// the two sides

interface Answer {
  readonly result?: JsonValue;
  readonly error?: string;
  readonly kv: JsonObject;
}

class PythonDcs {
  private readonly proc: ChildProcess;
  private readonly lines: Interface;
  private readonly queue: string[] = [];
  private waiter: ((line: string) => void) | null = null;
  private nextId = 1;
  readonly stderr: string[] = [];

  constructor(config: Record<string, PyJson>) {
    this.proc = spawn(PYTHON, ['-u', DRIVER], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr?.on('data', (b: Buffer) => this.stderr.push(b.toString()));
    this.lines = createInterface({ input: this.proc.stdout! });
    this.lines.on('line', (l) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = null;
        w(l);
      } else this.queue.push(l);
    });
    this.proc.stdin!.write(`${pyJsonDumps(config)}\n`);
  }

  private next(timeoutMs = 30_000): Promise<string> {
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiter = null;
        reject(
          new Error(
            `python driver silent for ${timeoutMs} ms; stderr:\n${this.stderr.join('').slice(-3000)}`,
          ),
        );
      }, timeoutMs);
      this.waiter = (l) => {
        clearTimeout(t);
        resolve(l);
      };
    });
  }

  /** Patroni's and pysyncobj's versions, as the driver reports them once its DCS is up. */
  async ready(): Promise<{ patroni: string; pysyncobj: string }> {
    const l = parsePyJson(await this.next());
    if (!isJsonObject(l) || l['ready'] !== true || typeof l['patroni'] !== 'string')
      throw new Error(`unexpected first line ${JSON.stringify(l)}`);
    return { patroni: l['patroni'], pysyncobj: String(l['pysyncobj']) };
  }

  async call(op: string, args: readonly PyJson[] = []): Promise<Answer> {
    const id = this.nextId++;
    this.proc.stdin!.write(`${pyJsonDumps({ id, op, args: [...args] })}\n`);
    const answer = parsePyJson(await this.next());
    if (!isJsonObject(answer) || answer['id'] !== id)
      throw new Error(`unexpected answer ${JSON.stringify(answer)}`);
    return {
      result: answer['result'],
      error: typeof answer['error'] === 'string' ? answer['error'] : undefined,
      kv: answer['kv'] as JsonObject,
    };
  }

  async close(): Promise<void> {
    this.proc.stdin?.end();
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    const t = setTimeout(() => {
      if (this.proc.pid !== undefined && this.proc.exitCode === null) process.kill(this.proc.pid, 'SIGKILL');
    }, 5000);
    await exited;
    clearTimeout(t);
  }
}

interface TsAnswer {
  readonly result?: unknown;
  readonly error?: string;
  readonly kv: Map<string, KvRecord>;
}

class OurDcs {
  offset = 0;
  /** print the Cluster as 4.x Patroni does (the Python side is 4.x) */
  fourX = false;
  dcs!: RaftDcs;
  private lastCluster: Cluster | null = null;

  async start(config: Parameters<typeof RaftDcs.create>[0]): Promise<void> {
    this.dcs = await RaftDcs.create(config, { wallClock: () => Date.now() / 1000 + this.offset });
    await waitFor(
      () => this.dcs.kv.isLeader() && this.dcs.kv.raftCommitIndex >= 2,
      10_000,
      'our node leading',
    );
  }

  private async run(op: string, a: readonly PyJson[], step: Step): Promise<unknown> {
    const d = this.dcs;
    const cluster = async () => this.lastCluster ?? (await d.getCluster());
    const num = (v: PyJson | undefined) => (v === null || v === undefined ? null : Number(v));
    switch (op) {
      case 'get_cluster':
        this.lastCluster = await d.getCluster();
        return clusterJson(this.lastCluster, this.fourX);
      case 'get_citus_coordinator':
        return clusterJson(await d.getMppCoordinator(), this.fourX);
      case 'is_citus_coordinator':
        return d.isMppCoordinator();
      case 'touch_member':
        return d.touchMember(a[0] as PyJsonDict);
      case 'attempt_to_acquire_leader':
        return d.attemptToAcquireLeader();
      case 'update_leader':
        return d.updateLeader(
          await cluster(),
          a[0] as number | bigint | null,
          (a[1] ?? null) as Record<string, number> | null,
          (a[2] ?? null) as Record<string, string> | null,
        );
      case 'take_leader':
        return d.takeLeader();
      case 'initialize':
        return d.initialize(a[0] as boolean, a[1] as string);
      case 'cancel_initialization':
        return d.cancelInitialization();
      case 'delete_cluster':
        return d.deleteCluster();
      case 'delete_leader':
        return d.deleteLeader((await cluster()).leader, (a[0] ?? null) as number | null);
      case 'set_config_value':
        return d.setConfigValue(a[0] as string, num(a[1]));
      case 'set_failover_value':
        return d.setFailoverValue(a[0] as string, num(a[1]));
      case 'set_history_value':
        return d.setHistoryValue(a[0] as string);
      case 'set_sync_state_value':
        return d.setSyncStateValue(a[0] as string, num(a[1]));
      case 'delete_sync_state':
        return d.deleteSyncState(num(a[0]));
      case 'manual_failover': {
        const when = typeof a[2] === 'string' ? parseScheduledAt(a[2]) : null;
        return d.manualFailover(a[0] as string | null, a[1] as string | null, when, num(a[3]));
      }
      case 'write_sync_state':
        return d.writeSyncState(
          a[0] as string | null,
          (a[1] ?? null) as string[] | null,
          step.quorum ?? 0,
          num(a[2]),
        );
      case 'write_leader_optime':
        return d.writeLeaderOptime(a[0] as number | bigint);
      case 'write_status':
        return d.writeStatus(a[0] as unknown as Parameters<RaftDcs['writeStatus']>[0]);
      case 'write_failsafe':
        return d.writeFailsafe(a[0] as Record<string, string>);
      case 'watch':
        return d.watch(null, Number(a[1]));
      case 'set_ttl':
        return d.setTtl(Number(a[0]));
      case 'set_retry_timeout':
        return d.setRetryTimeout(Number(a[0]));
      case 'reload_config': {
        const c = a[0] as { loop_wait: number; ttl: number; retry_timeout: number };
        return d.reloadConfig(c);
      }
      case 'raw_set': {
        const kw = (a[3] ?? {}) as Record<string, boolean | string | number | null>;
        return (await d.kv.set(a[0] as string, a[1] as string, { ttl: num(a[2]), ...kw })) !== false;
      }
      case 'raw_delete':
        return d.kv.delete(a[0] as string, (a[1] ?? {}) as Record<string, boolean | string | number | null>);
      case 'advance':
        this.offset += Number(a[0]);
        return this.offset;
      case 'wait_gone': {
        const keys = a[0] as string[];
        await waitFor(() => keys.every((k) => d.kv.get(k) === null), 10_000, `${keys} gone`).catch(() => {});
        return keys.filter((k) => d.kv.get(k) !== null);
      }
      case 'cluster_cached':
        return d.cluster !== null;
      case 'kv':
        return null;
      default:
        throw new Error(`no such op ${op}`);
    }
  }

  async call(op: string, args: readonly PyJson[], step: Step): Promise<TsAnswer> {
    try {
      const result = await this.run(op, args, step);
      return { result, kv: this.dcs.kv.getPrefix('/') };
    } catch (e) {
      return { error: `${(e as Error).name}: ${(e as Error).message}`, kv: this.dcs.kv.getPrefix('/') };
    }
  }
}

/**
 * Our Cluster in the shape the Python driver prints (see raft_dcs_driver.py `cluster_json`): with
 * `fourX`, also the fields 3.0.2 lacks (`retain_slots`, `sync.quorum`).
 */
function clusterJson(c: Cluster | null, fourX: boolean): unknown {
  if (c === null) return null;
  return {
    initialize: c.initialize,
    config: c.config && {
      version: c.config.version,
      modify_version: c.config.modifyVersion,
      data: c.config.data,
    },
    leader: c.leader && {
      version: c.leader.version,
      name: c.leader.name,
      member_version: c.leader.member.version,
    },
    last_lsn: c.status.lastLsn,
    slots: c.status.slots,
    ...(fourX ? { retain_slots: c.status.retainSlots } : {}),
    members: c.members.map((m) => ({ name: m.name, version: m.version, data: m.data })),
    failover: c.failover && {
      version: c.failover.version,
      leader: c.failover.leader,
      candidate: c.failover.candidate,
      scheduled_at: c.failover.scheduledAt?.isoformat() ?? null,
    },
    sync: syncJson(c.sync, fourX),
    history: c.history && { version: c.history.version, value: c.history.value, lines: c.history.lines },
    failsafe: c.failsafe,
    timeline: c.timeline,
    unlocked: c.isUnlocked(),
    min_version: c.minVersion && [...c.minVersion],
    workers: Object.fromEntries([...c.workers].map(([g, w]) => [String(g), clusterJson(w, fourX)])),
  };
}

function syncJson(s: SyncState, fourX: boolean): unknown {
  return {
    version: s.version,
    leader: s.leader,
    sync_standby: s.syncStandby,
    ...(fourX ? { quorum: s.quorum } : {}),
  };
}

// ------------------------------------------------------------------------------------------------
// comparison

/** Integers (number or bigint) as `#n`, object keys sorted: a form both sides agree on. */
function canon(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') return `#${v}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `#${v}` : v;
  if (v instanceof JsonFloat) return Number.isInteger(v.value) ? `#${v.value}` : v.value;
  if (Array.isArray(v)) return v.map(canon);
  if (v instanceof Map) v = Object.fromEntries(v);
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, canon(o[k])]),
    );
  }
  return v;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}

function show(v: unknown): string {
  return JSON.stringify(canon(v));
}

/** The paths where two canonical values differ (to point at the difference in a big cluster). */
function differences(a: unknown, b: unknown, path = '$'): string[] {
  const x = canon(a);
  const y = canon(b);
  if (JSON.stringify(x) === JSON.stringify(y)) return [];
  if (x && y && typeof x === 'object' && typeof y === 'object' && Array.isArray(x) === Array.isArray(y)) {
    const xo = x as Record<string, unknown>;
    const yo = y as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(xo), ...Object.keys(yo)])];
    return keys.flatMap((k) => differences(xo[k], yo[k], `${path}.${k}`));
  }
  return [`${path}: Python ${JSON.stringify(x)} / ours ${JSON.stringify(y)}`];
}

interface NormRec {
  readonly value: string;
  readonly index: number;
  /** expire − updated (rounded to µs), null without expire */
  readonly ttl: number | null;
  /** created == updated (a fresh incarnation) */
  readonly fresh: boolean;
}

function norm(r: {
  value: unknown;
  index: unknown;
  updated: unknown;
  created: unknown;
  expire?: unknown;
}): NormRec {
  const n = (x: unknown) => (x instanceof JsonFloat ? x.value : Number(x));
  return {
    value: String(r.value),
    index: n(r.index),
    ttl: r.expire === undefined ? null : Math.round((n(r.expire) - n(r.updated)) * 1e6) / 1e6,
    fresh: n(r.created) === n(r.updated),
  };
}

/** 4.x `sync` values carry `quorum`; 3.0.2's do not: our value without it must equal Python's. */
function withoutQuorum(value: string): string {
  const v = parsePyJson(value);
  if (!isJsonObject(v)) return value;
  const m = new Map<string, PyJson>(Object.entries(v));
  m.delete('quorum');
  return pyJsonDumps(m);
}

interface Diff {
  /** our (4.x) value, or null when the key must be absent on our side */
  readonly ts: string | null;
  /** Python's (3.0.2) value, or null when absent there */
  readonly py: string | null;
  readonly why: string;
}

interface Step {
  readonly op: string;
  readonly args?: PyJson[];
  /** quorum for write_sync_state (4.x argument; 3.0.2 has none) */
  readonly quorum?: number;
  /** documented value differences that start with this step (sticky until both agree again) */
  readonly diff?: Readonly<Record<string, Diff>>;
  /** map Python's result/cluster to its 4.x reading (documented at the step) */
  readonly py4x?: (pyResult: JsonValue | undefined, pyKv: JsonObject) => unknown;
  /** Python's watch(None, 0) after this step, read as 4.x (documented at the step) */
  readonly watch4x?: (pyWatch: JsonValue | undefined) => boolean;
  /** from this step on, indexes are no longer comparable (only the last steps) */
  readonly indexesDiverge?: boolean;
  readonly why?: string;
  /**
   * Against Patroni 4.x: a difference between real Patroni 4.1.4 and us that raftdcs keeps (a
   * finding for the owner, with the reason and Patroni's source lines). `expect` maps each
   * comparison that differs at this step (`result`, `KV <key>`, `watch`, …) to the exact
   * `differences()` lines; the test asserts the whole list of findings, so a change on either side
   * fails it. The fields above (3.0.2 → 4.x readings) are not used against 4.x.
   */
  readonly differs414?: {
    readonly why: string;
    readonly expect: Readonly<Record<string, readonly string[]>>;
  };
}

/** 3.0.2 → 4.x readings applied to every cluster Python prints. */
function py4xCluster(c: JsonValue | undefined): unknown {
  if (!isJsonObject(c)) return c;
  const sync = c['sync'] as JsonObject;
  const failover = c['failover'] as JsonObject | null;
  const workers = c['workers'] as JsonObject;
  return {
    ...c,
    // 3.0.2's empty SyncState: version '' (Cluster.empty) and sync_standby ''; 4.x null/null
    sync: {
      ...sync,
      version: sync['version'] === '' ? null : sync['version'],
      sync_standby: sync['sync_standby'] === '' ? null : sync['sync_standby'],
    },
    // 3.0.2 keeps scheduled_at "" ; we read it as "no schedule" (4.1.4 keeps "": see differs414)
    failover: failover && {
      ...failover,
      scheduled_at: failover['scheduled_at'] === '' ? null : failover['scheduled_at'],
    },
    workers: Object.fromEntries(Object.entries(workers).map(([g, w]) => [g, py4xCluster(w)])),
  };
}

/** An argument resolved before the step: the current index of `key` (minus `minus`) on our side. */
function ref(key: string, minus = 0): PyJson {
  return { $index: key, minus };
}

function resolveRefs(v: PyJson, kv: Map<string, KvRecord>): PyJson {
  if (Array.isArray(v)) return v.map((x) => resolveRefs(x, kv));
  if (v !== null && typeof v === 'object' && !(v instanceof Map) && !(v instanceof JsonFloat)) {
    const o = v as Record<string, PyJson>;
    if (typeof o['$index'] === 'string') {
      const r = kv.get(o['$index']);
      return r === undefined ? 999_999 : r.index - Number(o['minus'] ?? 0);
    }
  }
  return v;
}

const CLUSTER_OPS = new Set(['get_cluster', 'get_citus_coordinator']);

/** A difference between real Patroni 4.x and us, as the comparator records it. */
interface Finding {
  readonly phase: string;
  readonly step: number;
  readonly op: string;
  /** which comparison: `result`, `error`, `KV <key>`, `KV <key> record`, `KV key order`, `watch` */
  readonly what: string;
  /** where the two differ: `differences()` lines, `<path>: Python <value> / ours <value>` */
  readonly at: readonly string[];
}

class Comparator {
  readonly sticky = new Map<string, Diff>();
  indexesDiverged = false;
  steps = 0;
  watchChecks = 0;
  /** steps where `sync` differed only by 4.x's quorum field */
  quorumOnly = 0;
  readonly documented: string[] = [];
  /** against 4.x: every difference, in order (the test asserts the list) */
  readonly findings: Finding[] = [];

  constructor(
    private readonly py: PythonDcs,
    private readonly ts: OurDcs,
    private readonly phase: string,
    /** Patroni's version on the Python side */
    private readonly pyVersion: string,
  ) {}

  /** The Python side is Patroni 4.x: compare its answers as they are (no 3.0.2 → 4.x readings). */
  get fourX(): boolean {
    return isFourX(this.pyVersion);
  }

  /**
   * A difference. Against 3.0.2 it fails the test at once; against 4.x it is recorded as a finding
   * and the comparison goes on (the test then asserts the whole list).
   */
  private fail(n: number, step: Step, what: string, pyV: unknown, tsV: unknown): void {
    if (this.fourX) {
      this.findings.push({ phase: this.phase, step: n, op: step.op, what, at: differences(pyV, tsV) });
      return;
    }
    throw new Error(
      `[${this.phase}] step ${n} ${step.op}(${show(step.args ?? [])}) — ${what} differs\n` +
        `  at: ${differences(pyV, tsV).join('\n      ')}\n` +
        `  Python ${this.pyVersion}: ${show(pyV)}\n  ours:         ${show(tsV)}`,
    );
  }

  private compareKv(n: number, step: Step, pyKv: JsonObject, tsKv: Map<string, KvRecord>): void {
    const pyKeys = Object.keys(pyKv);
    const tsKeys = [...tsKv.keys()];
    const declaredDiffs = this.fourX ? {} : (step.diff ?? {});
    for (const [key, d] of Object.entries(declaredDiffs)) {
      this.sticky.set(key, d);
      this.documented.push(`${this.phase} step ${n} ${step.op} ${key}: ${d.why}`);
    }
    const allKeys = [...new Set([...pyKeys, ...tsKeys])];
    for (const key of allKeys) {
      const p = pyKv[key] as JsonObject | undefined;
      const t = tsKv.get(key);
      const pn = p && norm(p as unknown as Parameters<typeof norm>[0]);
      const tn = t && norm(t);
      const sticky = this.sticky.get(key);
      const declared = declaredDiffs[key];
      if (declared && ((tn?.value ?? null) !== declared.ts || (pn?.value ?? null) !== declared.py)) {
        // a difference documented at this step must show exactly here
        this.fail(
          n,
          step,
          `${key} (expected documented difference: ${declared.why})`,
          pn ?? null,
          tn ?? null,
        );
      }
      if (pn && tn && pn.value === tn.value) {
        this.sticky.delete(key);
      } else if (!this.fourX && pn && tn && key.endsWith('/sync') && withoutQuorum(tn.value) === pn.value) {
        // documented: 4.x writes quorum
        this.quorumOnly++;
      } else if (sticky) {
        if ((tn?.value ?? null) !== sticky.ts || (pn?.value ?? null) !== sticky.py) {
          this.fail(n, step, `${key} (documented difference: ${sticky.why})`, pn ?? null, tn ?? null);
        }
        continue;
      } else {
        this.fail(n, step, `KV ${key}`, pn ?? null, tn ?? null);
        continue;
      }
      if (!same({ ...pn, value: null }, { ...tn, value: null }) && !this.indexesDiverged) {
        this.fail(n, step, `KV ${key} record`, pn, tn);
      }
    }
    if (!same(pyKeys, tsKeys)) this.fail(n, step, 'KV key order', pyKeys, tsKeys);
  }

  private compareResult(n: number, step: Step, py: Answer, ts: TsAnswer): void {
    if (py.error !== undefined || ts.error !== undefined) {
      if (py.error === undefined || ts.error === undefined)
        this.fail(n, step, 'error', py.error ?? py.result, ts.error ?? ts.result);
      return;
    }
    let pyR: unknown = py.result;
    let tsR: unknown = ts.result;
    if (this.fourX) {
      // 4.x answers as we do: only our SyncState needs printing in the driver's shape
      if (step.op === 'write_sync_state') tsR = tsR === null ? null : syncJson(tsR as SyncState, true);
    } else if (CLUSTER_OPS.has(step.op)) {
      pyR = py4xCluster(py.result);
      if (step.py4x) pyR = step.py4x(pyR as JsonValue, py.kv);
      if (this.sticky.size > 0 && isJsonObject(pyR as JsonValue)) {
        // a documented status difference shows in the status fields: compare the rest
        for (const key of this.sticky.keys()) {
          if (key.endsWith('/status')) {
            pyR = { ...(pyR as object), slots: null };
            tsR = { ...(tsR as object), slots: null };
          }
        }
      }
    } else if (step.op === 'set_sync_state_value') {
      // 3.0.2 returns a bool, 4.x the new index (or false)
      const idx = ts.kv.get([...ts.kv.keys()].find((k) => k.endsWith('/sync')) ?? '')?.index;
      if (tsR !== false && tsR !== idx) this.fail(n, step, 'returned index', idx, tsR);
      tsR = tsR !== false;
    } else if (step.op === 'write_sync_state') {
      // 3.0.2 returns a bool, 4.x the new SyncState (version = the new index) or null
      const s = tsR as { version: number } | null;
      const idx = ts.kv.get([...ts.kv.keys()].find((k) => k.endsWith('/sync')) ?? '')?.index;
      if (s !== null && s.version !== idx) this.fail(n, step, 'SyncState version', idx, s.version);
      tsR = s !== null;
    } else if (step.py4x) {
      pyR = step.py4x(py.result, py.kv);
    }
    if (tsR === undefined) tsR = null;
    if (!same(pyR, tsR)) this.fail(n, step, 'result', pyR, tsR);
  }

  /** The findings the steps declare (`differs414`), in the order the comparator records them. */
  static expectedFindings(phase: string, steps: readonly Step[]): (Finding & { why: string })[] {
    return steps.flatMap((step, i) =>
      Object.entries(step.differs414?.expect ?? {}).map(([what, at]) => ({
        phase,
        step: i + 1,
        op: step.op,
        what,
        at,
        why: step.differs414?.why ?? '',
      })),
    );
  }

  async run(steps: readonly Step[]): Promise<void> {
    for (const step of steps) {
      const n = ++this.steps;
      const args = resolveRefs(step.args ?? [], this.ts.dcs.kv.getPrefix('/')) as PyJson[];
      // 4.x's write_sync_state takes the quorum (the driver passes a fourth argument on; 3.0.2 has none)
      const pyArgs = step.op === 'write_sync_state' ? [...args, step.quorum ?? 0] : args;
      const [py, ts] = await Promise.all([this.py.call(step.op, pyArgs), this.ts.call(step.op, args, step)]);
      if (!this.fourX) {
        // the 3.0.2 → 4.x notes of the step
        if (step.indexesDiverge) this.indexesDiverged = true;
        if (step.why) this.documented.push(`${this.phase} step ${n} ${step.op}: ${step.why}`);
      }
      this.compareResult(n, step, py, ts);
      this.compareKv(n, step, py.kv, ts.kv);
      // the change event after every step
      const [pw, tw] = await Promise.all([
        this.py.call('watch', [null, 0]),
        this.ts.call('watch', [null, 0], step),
      ]);
      this.watchChecks++;
      const pyWatch = !this.fourX && step.watch4x ? step.watch4x(pw.result) : pw.result;
      if (pyWatch !== tw.result) this.fail(n, step, 'watch', pw.result, tw.result);
    }
  }
}

/** Patroni 4.x or later (its API and the behaviour raftdcs follows). */
function isFourX(patroniVersion: string): boolean {
  return Number(patroniVersion.split('.')[0]) >= 4;
}

// ------------------------------------------------------------------------------------------------
// the scripts

const P = '/service/batman/';
const lsn = (i: number) => 50_331_744 + i * 4096;
const BIG_LSN = 2n ** 60n + 5n;

function memberData(n: number, i: number, extra: Record<string, PyJson> = {}): Record<string, PyJson> {
  return {
    conn_url: `postgres://10.0.0.${n}:5432/postgres`,
    api_url: `http://10.0.0.${n}:8008/patroni`,
    state: 'running',
    role: n === 1 ? 'master' : 'replica',
    version: '3.0.2',
    xlog_location: lsn(i),
    timeline: 2,
    tags: { nofailover: false, zone: 'zürich' },
    ...extra,
  };
}

const CONFIG =
  '{"ttl":3600,"loop_wait":10,"retry_timeout":10,"maximum_lag_on_failover":1048576,"postgresql":{"use_pg_rewind":true,"parameters":{"max_connections":100}}}';

/** Phase A: one non-MPP cluster (scope batman, member pg1). */
function mainScript(): Step[] {
  const s: Step[] = [];
  const add = (op: string, args: PyJson[] = [], extra: Partial<Step> = {}) => s.push({ op, args, ...extra });
  const fo = (v: string): [string, PyJson[]] => ['raw_set', [`${P}failover`, v, null, {}]];

  add('get_cluster');
  add('cluster_cached');
  add('initialize', [true, '']);
  add('initialize', [true, '']);
  add('get_cluster');
  add('set_config_value', [CONFIG, null]);
  add('get_cluster');
  add('set_config_value', [CONFIG.replace('100', '200'), ref(`${P}config`, 1)]); // stale version
  add('set_config_value', [CONFIG.replace('100', '200'), ref(`${P}config`)]);
  add('touch_member', [memberData(1, 0)]);
  add('attempt_to_acquire_leader');
  add('attempt_to_acquire_leader');
  add('initialize', [false, '7301234567890123456']);
  add('raw_set', [`${P}members/pg2`, pyJsonDumps(memberData(2, 0)), 3600, {}]);
  add('raw_set', [
    `${P}members/pg3`,
    'postgres://u:p@10.0.0.3:5432/postgres?application_name=http://10.0.0.3:8008/patroni',
    3600,
    {},
  ]);
  add('get_cluster');
  add('update_leader', [lsn(0), null, null]);
  add('update_leader', [lsn(0), null, null]); // unchanged status: neither side writes
  add('write_failsafe', [{ pg1: 'http://10.0.0.1:8008/patroni' }]);
  add('write_failsafe', [{ pg1: 'http://10.0.0.1:8008/patroni' }]);

  // 30 HA cycles of a primary: load, refresh lock + status (+ slots, + failsafe), touch
  for (let i = 1; i <= 30; i++) {
    add('get_cluster');
    const slots = i % 3 === 0 ? { logical_1: lsn(i) - 10, perm_a: lsn(i) - 20 } : null;
    const failsafe =
      i % 7 === 3 ? { pg1: 'http://10.0.0.1:8008/patroni', pg2: 'http://10.0.0.2:8008/patroni' } : null;
    add('update_leader', [lsn(i), slots, failsafe]);
    add('touch_member', [memberData(1, i)]);
    if (i % 5 === 0) add('raw_set', [`${P}members/pg2`, pyJsonDumps(memberData(2, i)), 3600, {}]);
    if (i % 10 === 0) add('update_leader', [lsn(i), slots, failsafe]); // same again: no status write
  }

  // a 4.x carry-over: the last status has slots, write_leader_optime gives only optime
  add('get_cluster');
  add('update_leader', [lsn(40), { logical_1: lsn(40) }, null]);
  add('write_leader_optime', [lsn(41)], {
    diff: {
      [`${P}status`]: {
        ts: `{"optime":${lsn(41)},"slots":{"logical_1":${lsn(40)}}}`,
        py: `{"optime":${lsn(41)}}`,
        why: '4.x write_status copies slots over from the last status (3.0.2 writes only what it is given)',
      },
    },
  });
  add('get_cluster');
  add('update_leader', [lsn(42), null, null]); // both write {"optime":…} again: the difference ends

  // failover
  add('manual_failover', ['pg1', 'pg2', null, null]);
  add('get_cluster');
  add('manual_failover', ['', '', null, ref(`${P}failover`, 1)]); // stale version
  add('manual_failover', ['', '', null, ref(`${P}failover`)]);
  add('manual_failover', ['', '', null, null]);
  add('manual_failover', ['pg1', 'pg3', '2024-05-01T12:00:00+00:00', null]);
  add('get_cluster');
  add('manual_failover', [null, 'pg2', '2024-05-01 12:00', null]); // naive
  add('get_cluster');
  add(...fo('pg1:pg2'));
  add('get_cluster');
  add(...fo(':pg2'));
  add('get_cluster');
  add(...fo(' : '));
  add('get_cluster', [], {
    why: 'legacy failover with both parts empty: 3.0.2 has no object, 4.x an object with empty parts',
    py4x: (c, kv) => ({
      ...(c as JsonObject),
      failover: {
        version: (kv[`${P}failover`] as JsonObject)['index'],
        leader: '',
        candidate: '',
        scheduled_at: null,
      },
    }),
  });
  add(...fo('{"leader":"pg1","scheduled_at":""}'));
  add('get_cluster', [], {
    differs414: {
      why:
        'empty scheduled_at: Patroni 4.1.4 parses only a truthy one and keeps "" in Failover.scheduled_at ' +
        '(patroni/dcs/__init__.py:517-520, Failover.from_node); raftdcs reads it as no schedule, null ' +
        '(src/dcs/model/failover.ts, docs/dcs.md §7.5). Representation only: every 4.1.4 reader tests ' +
        'truthiness (ha.py:1506,1751,1783; api.py:1055; ctl.py:1797; utils.py:998), where "" and null agree',
      expect: { result: ['$.failover.scheduled_at: Python "" / ours null'] },
    },
  });
  add(...fo('{"leader":"pg1","scheduled_at":"next tuesday-ish"}'));
  add('get_cluster'); // both fail to load
  add('cluster_cached'); // and drop the cache
  add('manual_failover', ['', '', null, null]);
  add('get_cluster');

  // sync
  add('write_sync_state', ['pg1', ['pg3', 'pg2'], null], { quorum: 1 });
  add('get_cluster');
  add('write_sync_state', ['pg1', null, ref(`${P}sync`)], { quorum: 0 });
  add('write_sync_state', ['pg1', ['pg3'], ref(`${P}sync`, 1)], { quorum: 1 }); // stale
  add('write_sync_state', ['pg1', ['pg2'], null], { quorum: 1 });
  add('get_cluster');
  add('set_sync_state_value', ['{"leader":"pg1","sync_standby":"pg3"}', ref(`${P}sync`, 1)]);
  add('set_sync_state_value', ['{"leader":"pg1","sync_standby":"pg2"}', ref(`${P}sync`)]);
  add('set_sync_state_value', ['{"leader":"pg1","sync_standby":"pg3"}', null]);
  add('get_cluster');
  add('delete_sync_state', [ref(`${P}sync`, 1)]);
  add('delete_sync_state', [ref(`${P}sync`)]);
  add('write_sync_state', ['pg1', ['pg2', 'pg3'], null], { quorum: 2 });
  add('kv');
  add('delete_sync_state', [null]); // key exists: Python sends prevIndex None, we prevExist True
  add('get_cluster');
  add('delete_sync_state', [42]); // key absent: neither replicates
  add('write_sync_state', ['pg1', [], null], { quorum: 0 });
  add('get_cluster');

  // history
  add('set_history_value', ['[]']);
  add('get_cluster');
  add('set_history_value', [
    '[[1,25165984,"no recovery target specified","2024-01-01T10:00:00+00:00","pg1"]]',
  ]);
  add('get_cluster');

  // legacy optime/leader while a member runs Patroni < 2.1.0
  add('raw_set', [`${P}members/pg4`, pyJsonDumps(memberData(4, 0, { version: '2.0.2' })), 3600, {}]);
  add('get_cluster');
  add('update_leader', [lsn(50), null, null]);
  add('write_leader_optime', [lsn(51)]);
  add('write_leader_optime', [lsn(51)]);
  add('write_leader_optime', [BIG_LSN]);
  add('get_cluster');
  add('raw_delete', [`${P}members/pg4`, {}]);
  add('raw_delete', [`${P}optime/leader`, {}]);
  add('get_cluster');
  add('update_leader', [lsn(52), null, null]);

  // other writers
  add('raw_set', [`${P}status`, `{"optime":${lsn(53)}}`, null, {}]); // our own leader: no event
  add('raw_set', [`${P}leader`, 'pg2', 3600, { prevValue: 'pg1' }]);
  add('raw_set', [`${P}status`, `{"optime":${lsn(54)}}`, null, {}]); // another leader: event
  add('get_cluster');
  add('update_leader', [lsn(55), null, null]);
  add('take_leader');
  add('get_cluster');
  add('update_leader', [lsn(56), null, { pg1: 'http://10.0.0.1:8008/patroni' }]);
  add('raw_set', [`${P}config`, '[]', null, {}]);
  add('get_cluster', [], {
    why: 'config holding non-object JSON: 3.0.2 modify_index = index, 4.x modify_version 0',
    py4x: (c) => {
      const o = c as JsonObject;
      const cfg = o['config'] as JsonObject;
      return { ...o, config: { ...cfg, modify_version: 0 } };
    },
  });
  add('raw_set', [`${P}config`, CONFIG, null, {}]);

  // release and re-acquire
  add('get_cluster');
  add('delete_leader', [lsn(60)]);
  add('get_cluster');
  add('delete_leader', [lsn(61)]); // no leader key: 4.x does not try (3.0.2 tries, its pre-check fails)
  add('attempt_to_acquire_leader');
  add('get_cluster');

  // TTL: short-lived member keys expire on the leader's clock
  add('set_ttl', [5]);
  add('touch_member', [memberData(1, 62)]);
  add('raw_set', [`${P}members/pg5`, '{"version":"4.0.4"}', 5, {}]);
  add('get_cluster');
  add('advance', [10]);
  add('wait_gone', [[`${P}members/pg1`, `${P}members/pg5`]]);
  add('get_cluster');
  add('set_ttl', [3600]);
  add('reload_config', [{ loop_wait: 10, ttl: 3600, retry_timeout: 10 }]);
  add('set_retry_timeout', [10]);
  add('touch_member', [memberData(1, 63)]);
  add('get_cluster');
  add('update_leader', [lsn(64), null, null]);

  // the lock and every member expire (a long outage); the holder gets its lock back
  add('advance', [3700]);
  add('wait_gone', [[`${P}leader`, `${P}members/pg1`, `${P}members/pg2`, `${P}members/pg3`]]);
  add('get_cluster');
  add('update_leader', [lsn(65), null, null]);
  add('get_cluster');
  add('touch_member', [memberData(1, 66)]);

  // initialize / cancel / delete the cluster
  add('cancel_initialization');
  add('initialize', [false, '7301234567890123456']);
  add('initialize', [true, '7301234567890123456']);
  add('get_cluster');
  add('raw_set', [`${P}members/pg1/extra`, '{}', null, {}]);
  add('raw_set', [`/service/batman2/leader`, 'other', null, {}]);
  add('raw_set', [`${P}status`, '123', null, {}]);
  add('get_cluster', [], {
    why: 'status holding a JSON integer: 3.0.2 last_lsn 0, 4.x the integer (legacy form)',
    py4x: (c) => ({ ...(c as JsonObject), last_lsn: 123 }),
  });
  add('delete_cluster');
  add('get_cluster');
  add('initialize', [true, '']);
  add('take_leader');
  add('touch_member', [memberData(1, 70)]);
  add('set_config_value', [CONFIG, null]);
  add('get_cluster');
  add('update_leader', [lsn(71), null, null]);

  // 4.x-only: retain_slots for member slots (pg2 is a member again)
  add('raw_set', [`${P}members/pg2`, pyJsonDumps(memberData(2, 71)), 3600, {}]);
  add('get_cluster');
  add('update_leader', [lsn(72), { pg2: lsn(72), logical_1: lsn(72) }, null], {
    diff: {
      [`${P}status`]: {
        ts: `{"optime":${lsn(72)},"slots":{"pg2":${lsn(72)},"logical_1":${lsn(72)}},"retain_slots":["pg2"]}`,
        py: `{"optime":${lsn(72)},"slots":{"pg2":${lsn(72)},"logical_1":${lsn(72)}}}`,
        why: '4.x keeps the slots of members in status.retain_slots',
      },
    },
  });
  add('get_cluster');

  // last: prevIndex 0 — 3.0.2 skips the check (writes), 4.x fails it (nothing replicated)
  add('set_config_value', ['{"ttl":1}', 0], {
    indexesDiverge: true,
    why: 'prevIndex 0: 3.0.2 treats it as no condition and writes; 4.x (and we) fail it: the logs diverge here',
    py4x: () => false,
    watch4x: () => false, // Python applied a config write, which wakes it; nothing happened on ours
    diff: {
      [`${P}config`]: {
        ts: CONFIG,
        py: '{"ttl":1}',
        why: 'prevIndex 0 is a real condition in 4.x',
      },
    },
  });
  return s;
}

/** Phase B: the MPP coordinator (group 0) with worker groups beside it. */
function coordinatorScript(): Step[] {
  const s: Step[] = [];
  const add = (op: string, args: PyJson[] = [], extra: Partial<Step> = {}) => s.push({ op, args, ...extra });
  add('is_citus_coordinator');
  add('get_cluster');
  for (const [k, v] of [
    ['/service/batman/1/leader', 'w1'],
    ['/service/batman/1/members/w1', '{"role":"master","version":"3.0.2"}'],
    ['/service/batman/2/members/w2', '{}'],
    ['/service/batman/01/leader', 'x'],
    ['/service/batman/x/leader', 'x'],
    ['/service/batman/-1/leader', 'x'],
    ['/service/batman/leader', 'x'],
    ['/service/batman2/0/leader', 'x'],
  ] as const) {
    add('raw_set', [k, v, null, {}]);
  }
  add('get_cluster'); // only workers: not empty
  add('initialize', [true, '']);
  add('take_leader');
  add('touch_member', [
    {
      conn_url: 'postgres://c1:5432/postgres',
      api_url: 'http://c1:8008/patroni',
      state: 'running',
      role: 'master',
      version: '3.0.2',
    },
  ]);
  add('set_config_value', ['{"ttl":3600}', null]);
  add('get_cluster');
  add('update_leader', [lsn(1), null, null]);
  add('write_sync_state', ['c1', ['c2'], null], { quorum: 1 });
  add('get_cluster');
  add('raw_set', ['/service/batman/2/leader', 'w2', 3600, {}]);
  add('get_cluster');
  add('get_citus_coordinator');
  add('delete_cluster');
  add('get_cluster');
  return s;
}

/** Phase C: an MPP worker (group 1) and its view of the coordinator. */
function workerScript(): Step[] {
  const s: Step[] = [];
  const add = (op: string, args: PyJson[] = [], extra: Partial<Step> = {}) => s.push({ op, args, ...extra });
  add('is_citus_coordinator');
  add('get_citus_coordinator');
  for (const [k, v] of [
    ['/service/batman/0/leader', 'c1'],
    ['/service/batman/0/members/c1', '{"role":"master","version":"3.0.2"}'],
    ['/service/batman/0/config', '{"ttl":3600}'],
  ] as const) {
    add('raw_set', [k, v, null, {}]);
  }
  add('attempt_to_acquire_leader');
  add('touch_member', [
    {
      conn_url: 'postgres://w1:5432/postgres',
      api_url: 'http://w1:8008/patroni',
      state: 'running',
      role: 'master',
      version: '3.0.2',
    },
  ]);
  add('get_cluster');
  add('get_citus_coordinator');
  add('raw_set', ['/service/batman/0/failover', '{"leader":"c1","scheduled_at":"not a date"}', null, {}]);
  add('get_citus_coordinator'); // both log and return None
  add('get_cluster'); // the worker's own group is unaffected
  add('delete_cluster');
  add('get_cluster');
  add('get_citus_coordinator');
  return s;
}

// ------------------------------------------------------------------------------------------------

let cleanup: (() => Promise<void>)[] = [];
/** what the Python side runs, as its driver reported it */
let pythonVersions = '';
afterEach(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => {});
  cleanup = [];
});

async function runPhase(
  phase: string,
  name: string,
  mpp: { group: number } | null,
  steps: readonly Step[],
): Promise<Comparator> {
  const [pyAddr, tsAddr] = await freeLoopbackAddresses(2);
  const common = { name, scope: 'batman', ttl: 3600, loop_wait: 10, retry_timeout: 10 };
  const py = new PythonDcs({
    ...common,
    self_addr: pyAddr!,
    data_dir: mkdtempSync(join(tmp, `${phase}-py-`)),
    ...(mpp ? { group: mpp.group } : {}),
  });
  cleanup.push(() => py.close());
  const ts = new OurDcs();
  const [versions] = await Promise.all([
    py.ready(),
    ts.start({
      ...common,
      self_addr: tsAddr!,
      data_dir: mkdtempSync(join(tmp, `${phase}-ts-`)),
      ...(mpp ? { citus: { group: mpp.group, database: 'citus' } } : {}),
    }),
  ]);
  cleanup.push(() => ts.dcs.close());
  ts.fourX = isFourX(versions.patroni);
  pythonVersions = `Patroni ${versions.patroni}, pysyncobj ${versions.pysyncobj}`;
  // Python reports ready as soon as its (fresh) local log is applied, before it leads: wait for its
  // leader no-op so that the first write does not start with a MISSING_LEADER round
  for (let i = 0; i < 200; i++) {
    const st = (await py.call('raft_state')).result as JsonObject;
    if (st['leader'] === true && Number(st['applied']) >= 2) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const cmp = new Comparator(py, ts, phase, versions.patroni);
  await cmp.run(steps);
  return cmp;
}

describePython(
  'differential: our Raft DCS against Patroni (Debian 3.0.2, or 4.x on PYTHONPATH), one node each',
  () => {
    const report: string[] = [];
    afterAll(() => {
      if (report.length > 0) process.stdout.write(`\ndifferential test:\n  ${report.join('\n  ')}\n`);
    });

    it('runs ≥ 200 DCS operations with the same results, KV records, clusters and change events', async () => {
      const steps = mainScript();
      const cmp = await runPhase('main', 'pg1', null, steps);
      report.push(`against ${pythonVersions}`);
      expect(cmp.steps).toBe(steps.length);
      // 3.0.2 writes on prevIndex 0 (the last step), 4.x does not, as we do not
      expect(cmp.indexesDiverged).toBe(!cmp.fourX);
      report.push(`main: ${cmp.steps} operations + ${cmp.watchChecks} watch checks`);
      if (!cmp.fourX) report.push(`sync differed only by 4.x's quorum field after ${cmp.quorumOnly} steps`);
      report.push(...cmp.documented.map((d) => `documented: ${d}`));
      const mpp = [
        await runPhase('coordinator', 'c1', { group: 0 }, coordinatorScript()),
        await runPhase('worker', 'w1', { group: 1 }, workerScript()),
      ];
      const total = cmp.steps + mpp.reduce((a, c) => a + c.steps, 0);
      report.push(`MPP: ${mpp.map((c) => c.steps).join(' + ')} operations; total ${total}`);
      expect(total).toBeGreaterThanOrEqual(200);
      if (cmp.fourX) {
        // the differences from real Patroni 4.x: exactly the ones the scripts declare (`differs414`)
        const findings = [cmp, ...mpp].flatMap((c) => c.findings);
        const declared = [
          ...Comparator.expectedFindings('main', steps),
          ...Comparator.expectedFindings('coordinator', coordinatorScript()),
          ...Comparator.expectedFindings('worker', workerScript()),
        ];
        for (const f of findings)
          report.push(`4.x finding: ${f.phase} step ${f.step} ${f.op} ${f.what}: ${f.at.join('; ')}`);
        for (const d of declared) report.push(`declared (${d.phase} step ${d.step}): ${d.why}`);
        expect(findings).toEqual(declared.map(({ why: _, ...f }) => f));
      } else {
        expect(cmp.findings).toEqual([]);
      }
    }, 120_000);
  },
);
