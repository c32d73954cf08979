/**
 * What the `raftdcs recover` tests share: three `raftdcs controller` processes on per-test ports
 * (each with the YAML an operator would give it: self_addr, all three as partner_addrs, its own
 * data_dir), `status` over the utility protocol, a TypeScript KVStoreTTL client (read-only node) to
 * write and read Patroni-shaped keys, `raftdcs recover` runs with stdin, and each node's keys as
 * its files hold them (read with recover's own reader).
 *
 * Processes go through useProcesses (killed in afterEach), clients are destroyed in afterEach, every
 * wait is bounded.
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, expect } from 'vitest';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import type { KvRecord } from '../../src/kv/record.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { TcpUtility } from '../../src/raft/transport/utility-client.js';
import { planRecovery } from '../../src/recover/plan.js';
import { readSurvivorFiles } from '../../src/recover/survivor-files.js';
import { isDict, type PyValue, pyStr } from '../../src/wire/value.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { eventually, MAIN, type Proc, type ProcessScope } from './cli-process.js';
import { type RunResult, runCommand } from './ctl-helpers.js';

const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** Election timings that elect a leader in well under a second. */
export const FAST = `  append_entries_period: 0.05
  min_timeout: 0.2
  max_timeout: 0.4
  connection_timeout: 1.5
  connection_retry_time: 0.5
  retry_timeout: 2
`;

export interface NodeSpec {
  readonly addr: string;
  readonly config: string;
  readonly dataDir: string;
}

export interface Cluster3 {
  readonly dir: string;
  readonly nodes: readonly NodeSpec[];
  readonly addrs: readonly string[];
}

const clients: KVStoreTTL[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.destroy()));
});

/** Three node configurations (nothing started). */
export async function threeNodeConfigs(procs: ProcessScope, extraRaft = ''): Promise<Cluster3> {
  const addrs = await freeLoopbackAddresses(3);
  const dir = procs.dir();
  const partners = addrs.map((a) => `'${a}'`).join(', ');
  const nodes = addrs.map((addr, i) => {
    const dataDir = join(dir, `d${i}`);
    const config = join(dir, `n${i}.yml`);
    writeFileSync(
      config,
      `scope: batman\nname: raft${i}\nraft:\n  self_addr: '${addr}'\n  partner_addrs: [${partners}]\n  data_dir: ${dataDir}\n${FAST}${extraRaft}`,
    );
    return { addr, config, dataDir };
  });
  return { dir, nodes, addrs };
}

/** `raftdcs controller <config>` (JSON logs at INFO on stderr). */
export function startController(procs: ProcessScope, node: NodeSpec): Proc {
  return procs.raftdcs(['controller', node.config, '--log-format', 'json']);
}

/** The node's `status` reply (a dict), or undefined when it does not answer. */
export async function status(
  addr: string,
  password: string | null = null,
): Promise<Map<PyValue, PyValue> | undefined> {
  try {
    const reply = await new TcpUtility({ timeoutMs: 2000, password }).execute(addr, ['status']);
    return isDict(reply) ? (reply as Map<PyValue, PyValue>) : undefined;
  } catch {
    return undefined;
  }
}

/** Wait until one of `addrs` says it leads with a quorum; its address. */
export function waitLeader(
  addrs: readonly string[],
  timeoutMs = 20_000,
  password: string | null = null,
): Promise<string> {
  return eventually(
    async () => {
      for (const a of addrs) {
        const st = await status(a, password);
        if (st?.get('state') === 2 && st.get('has_quorum') === true) return a;
      }
      return undefined;
    },
    timeoutMs,
    `a leader among ${addrs.join(', ')}`,
  );
}

/** Wait until every node of `addrs` has applied at least `index`. */
export async function waitApplied(
  addrs: readonly string[],
  index: number,
  timeoutMs = 20_000,
): Promise<void> {
  await eventually(
    async () => {
      for (const a of addrs) {
        const applied = (await status(a))?.get('last_applied');
        if (typeof applied !== 'number' || applied < index) return undefined;
      }
      return true;
    },
    timeoutMs,
    `${addrs.join(', ')} to apply index ${index}`,
  );
}

/** The voting members a node reports (itself included). */
export async function membersOf(addr: string): Promise<string[]> {
  const st = await status(addr);
  if (st === undefined) return [];
  const out = [addr];
  for (const k of st.keys()) {
    const key = pyStr(k);
    if (key.startsWith('partner_node_status_server_'))
      out.push(key.slice('partner_node_status_server_'.length));
  }
  return out.sort();
}

/**
 * A TypeScript KVStoreTTL client (a read-only node, as patronictl runs one) of `partners`, once it
 * has applied `minApplied`. (Ready alone is not enough: a read-only node fires ready on the first
 * snapshot chunk of a leader whose log is compacted, before it installed the snapshot.)
 */
export async function kvClient(partners: readonly string[], minApplied = 0): Promise<KVStoreTTL> {
  const kv = await KVStoreTTL.open({ selfAddr: null, partnerAddrs: partners, retryTimeout: 10 });
  clients.push(kv);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    kv.waitReady(),
    new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`client of ${partners.join(', ')} not ready within 20 s`)),
        20_000,
      );
    }),
  ]).finally(() => clearTimeout(timer));
  await eventually(
    () => (kv.raftLastApplied >= minApplied ? true : undefined),
    20_000,
    `the client of ${partners.join(', ')} to apply index ${minApplied}`,
  );
  return kv;
}

/** Patroni-shaped keys: config, initialize, leader lock and members with TTLs, status, sync, history. */
export async function writePatroniKeys(kv: KVStoreTTL): Promise<void> {
  const member = (host: string, role: string) =>
    JSON.stringify({
      conn_url: `postgres://${host}:5432/postgres`,
      api_url: `http://${host}:8008/patroni`,
      state: 'running',
      role,
      version: '3.0.2',
      xlog_location: 67108960,
      timeline: 2,
    });
  const writes: [string, string, number | undefined][] = [
    ['/service/batman/initialize', '7301234567890123456', undefined],
    [
      '/service/batman/config',
      '{"ttl":30,"loop_wait":10,"retry_timeout":10,"maximum_lag_on_failover":1048576}',
      undefined,
    ],
    ['/service/batman/members/pg1', member('10.0.0.1', 'primary'), 3600],
    ['/service/batman/members/pg2', member('10.0.0.2', 'replica'), 3600],
    ['/service/batman/members/pg3', member('10.0.0.3', 'replica'), 3600],
    ['/service/batman/leader', 'pg1', 3600],
    ['/service/batman/status', '{"optime":67108960,"slots":{"pg2":67108960,"pg3":67108960}}', undefined],
    ['/service/batman/sync', '{"leader":"pg1","sync_standby":null}', undefined],
    [
      '/service/batman/history',
      '[[1,25165992,"no recovery target specified","2024-05-01T10:00:00+00:00"]]',
      undefined,
    ],
    ['/service/batman/failover', '{}', undefined],
  ];
  for (const [key, value, ttl] of writes) expect(await kv.set(key, value, { ttl })).not.toBe(false);
  // a leader lock renewed (prevValue, as Patroni's update_leader), a member updated, a key deleted
  expect(await kv.set('/service/batman/leader', 'pg1', { ttl: 3600, prevValue: 'pg1' })).not.toBe(false);
  expect(await kv.set('/service/batman/members/pg2', member('10.0.0.2', 'replica'), { ttl: 3600 })).not.toBe(
    false,
  );
  expect(await kv.delete('/service/batman/failover')).toBe(true);
}

/** Every key a client holds, as plain records. */
export function allKeys(kv: KVStoreTTL): Record<string, KvRecord> {
  return Object.fromEntries(kv.getPrefix(''));
}

/** The keys a stopped node's files hold (dump + journal, replayed as recover reads them). */
export async function keysOnDisk(node: NodeSpec): Promise<Record<string, KvRecord>> {
  const files = await readSurvivorFiles(journalPaths(node.dataDir, node.addr));
  const plan = planRecovery({
    selfAddr: node.addr,
    partnerAddrs: [],
    files,
    members: null,
    allowPartialData: false,
  });
  return Object.fromEntries(plan.keys);
}

/** `raftdcs recover <args>` from the sources, with `input` on stdin. */
export function recover(args: readonly string[], input = '', timeoutMs = 60_000): Promise<RunResult> {
  return runCommand(process.execPath, ['--import', TSX_LOADER, MAIN, 'recover', ...args], {
    input,
    timeoutMs,
  });
}
