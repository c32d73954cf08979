/**
 * How the end-to-end tests look at a cluster from outside: Patroni's REST API (`GET /patroni`,
 * `GET /cluster` — both in 3.0.2's api.py), `psql` against a node's PostgreSQL, pysyncobj's `status`
 * utility command against any Raft member (answered alike by Patroni nodes, `patroni_raft_controller`
 * and `raftdcs controller`), and a bounded polling helper that says what it waited for.
 */
import { execFile } from 'node:child_process';
import { TcpUtility } from '../../src/raft/transport/utility-client.js';
import { nodeId } from '../../src/wire/value.js';
import { SUPERUSER } from './config.js';
import { PSQL } from './env.js';

/** `GET /patroni` (the fields the tests read). Role is 3.0.2's `master` / `replica`. */
export interface PatroniStatus {
  readonly state: string;
  readonly role: string;
  readonly timeline?: number;
  readonly cluster_unlocked?: boolean;
  readonly replication?: readonly { application_name: string; state: string }[];
  readonly patroni?: { version: string; scope: string };
}

/** `GET /cluster` */
export interface ClusterView {
  readonly members: readonly {
    name: string;
    role: string;
    state: string;
    timeline?: number;
    lag?: number | string;
    port?: number;
  }[];
}

async function getJson(url: string, timeoutMs: number): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return JSON.parse(text) as unknown;
}

/** `GET /patroni` of the node at `apiPort`; null when it does not answer (in time). */
export async function patroniStatus(apiPort: number, timeoutMs = 3000): Promise<PatroniStatus | null> {
  try {
    return (await getJson(`http://127.0.0.1:${apiPort}/patroni`, timeoutMs)) as PatroniStatus;
  } catch {
    return null;
  }
}

/** `GET /cluster` of the node at `apiPort`; null when it does not answer (in time). */
export async function clusterView(apiPort: number, timeoutMs = 3000): Promise<ClusterView | null> {
  try {
    return (await getJson(`http://127.0.0.1:${apiPort}/cluster`, timeoutMs)) as ClusterView;
  } catch {
    return null;
  }
}

export interface PsqlResult {
  readonly ok: boolean;
  readonly stdout: string;
  readonly stderr: string;
}

/** One SQL command through psql (unaligned, tuples only) as the superuser, over TCP. */
export function psql(port: number, sql: string, timeoutMs = 15_000): Promise<PsqlResult> {
  return new Promise((resolve) => {
    execFile(
      PSQL,
      ['-h', '127.0.0.1', '-p', String(port), '-U', SUPERUSER.username, '-d', 'postgres', '-XAtq'],
      {
        timeout: timeoutMs,
        env: {
          PATH: '/usr/bin:/bin',
          PGPASSWORD: SUPERUSER.password,
          PGCONNECT_TIMEOUT: '3',
          PGOPTIONS: '-c statement_timeout=10000',
        },
      },
      (error, stdout, stderr) =>
        resolve({ ok: error === null, stdout: stdout.trim(), stderr: stderr.trim() }),
    ).stdin?.end(`\\set ON_ERROR_STOP 1\n${sql}\n`);
  });
}

/** psql that must succeed. */
export async function psqlOk(port: number, sql: string): Promise<string> {
  const r = await psql(port, sql);
  if (!r.ok) throw new Error(`psql on port ${port} failed for ${JSON.stringify(sql)}: ${r.stderr}`);
  return r.stdout;
}

/** What pysyncobj's `status` says about a Raft member (null when it does not answer). */
export interface RaftStatus {
  readonly leader: string | null;
  readonly term: number;
  readonly commitIdx: number;
  readonly lastApplied: number;
  readonly hasQuorum: boolean;
}

export async function raftStatus(addr: string, timeoutMs = 2000): Promise<RaftStatus | null> {
  try {
    const v = await new TcpUtility({ timeoutMs }).execute(addr, ['status']);
    if (!(v instanceof Map)) return null;
    // pysyncobj replies with a TCPNode object; a plain address is accepted too
    const leader = v.get('leader');
    return {
      leader: typeof leader === 'string' ? leader : (nodeId(leader) ?? null),
      term: Number(v.get('raft_term')),
      commitIdx: Number(v.get('commit_idx')),
      lastApplied: Number(v.get('last_applied')),
      hasQuorum: v.get('has_quorum') === true,
    };
  } catch {
    return null;
  }
}

/**
 * Poll `probe` every `intervalMs` until it returns a value that is not undefined; fail after
 * `timeoutMs` (and after at most timeoutMs / intervalMs + 1 probes) naming `what` and the last
 * thing seen (`describe`).
 */
export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  describe: () => string = () => '',
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const maxProbes = Math.ceil(timeoutMs / intervalMs) + 1;
  let lastError = '';
  for (let n = 0; n < maxProbes; n++) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      lastError = (e as Error).message;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  const seen = describe();
  throw new Error(
    `timed out after ${(timeoutMs / 1000).toFixed(0)} s waiting for ${what}` +
      `${lastError ? ` (last error: ${lastError})` : ''}${seen ? `\nlast seen: ${seen}` : ''}`,
  );
}
