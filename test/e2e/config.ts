/**
 * The YAML files of an end-to-end cluster: one Patroni configuration per PostgreSQL node (scope,
 * name, REST API, the `raft:` section, `bootstrap.dcs` with short timeouts, `postgresql`), and one
 * `raft:`-only file per witness, read alike by `raftdcs controller` and `patroni_raft_controller`.
 *
 * Timeouts: Patroni 3.0.2 requires ttl >= 20 and loop_wait + 2 * retry_timeout <= ttl; we use
 * ttl 20, loop_wait 2, retry_timeout 5. `master_start_timeout: 0` makes a primary whose PostgreSQL
 * crashed fail over instead of restarting it (Patroni's `Ha.recover`). PostgreSQL is kept light:
 * 25 connections (Patroni's minimum), 16 MB of shared buffers, no fsync.
 */
import { stringify } from 'yaml';

export const TTL = 20;
export const LOOP_WAIT = 2;
export const RETRY_TIMEOUT = 5;

export const SUPERUSER = { username: 'postgres', password: 'e2e-superuser' };
export const REPLICATION = { username: 'replicator', password: 'e2e-replication' };

export interface NodeAddresses {
  readonly name: string;
  /** REST API port */
  readonly api: number;
  /** PostgreSQL port */
  readonly pg: number;
  /** Raft `host:port` */
  readonly raft: string;
}

export interface NodePaths {
  /** the node's own directory (HOME, sockets, pgpass) */
  readonly dir: string;
  readonly dataDir: string;
  readonly raftDir: string;
}

/** A PyYAML-safe document: every string single-quoted (no YAML 1.1 surprises like `on` or `10:20`). */
export function toYaml(doc: Record<string, unknown>): string {
  return stringify(doc, { defaultStringType: 'QUOTE_SINGLE', defaultKeyType: 'PLAIN', lineWidth: 0 });
}

/** The Patroni configuration of one node. `partners`: every other Raft member's address. */
export function patroniConfig(
  scope: string,
  node: NodeAddresses,
  paths: NodePaths,
  partners: readonly string[],
  pgBin: string,
): Record<string, unknown> {
  return {
    scope,
    name: node.name,
    log: { level: process.env.RAFTDCS_E2E_PATRONI_LOG_LEVEL ?? 'INFO' },
    restapi: { listen: `127.0.0.1:${node.api}`, connect_address: `127.0.0.1:${node.api}` },
    raft: { data_dir: paths.raftDir, self_addr: node.raft, partner_addrs: [...partners] },
    bootstrap: {
      dcs: {
        ttl: TTL,
        loop_wait: LOOP_WAIT,
        retry_timeout: RETRY_TIMEOUT,
        maximum_lag_on_failover: 16 * 1024 * 1024,
        master_start_timeout: 0,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: {
            // Patroni 3.0.2 ignores values below its minimum (25) and starts PostgreSQL with 100
            max_connections: 25,
            max_wal_senders: 8,
            max_replication_slots: 8,
            max_worker_processes: 4,
            shared_buffers: '16MB',
            wal_keep_size: '64MB',
            fsync: 'off',
            synchronous_commit: 'off',
          },
        },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }],
    },
    postgresql: {
      listen: `127.0.0.1:${node.pg}`,
      connect_address: `127.0.0.1:${node.pg}`,
      data_dir: paths.dataDir,
      bin_dir: pgBin,
      pgpass: `${paths.dir}/pgpass`,
      authentication: { superuser: SUPERUSER, replication: REPLICATION },
      parameters: { unix_socket_directories: paths.dir },
      // a replica that cannot be rewound is cloned again rather than left broken
      remove_data_directory_on_rewind_failure: true,
      remove_data_directory_on_diverged_timelines: true,
      pg_hba: [
        'local all all trust',
        'host all all 127.0.0.1/32 md5',
        'host replication all 127.0.0.1/32 md5',
      ],
    },
    watchdog: { mode: 'off' },
  };
}

/** A witness: only the `raft:` section (and the scope, which neither controller uses). */
export function witnessConfig(
  scope: string,
  selfAddr: string,
  partners: readonly string[],
  dataDir: string,
): Record<string, unknown> {
  return { scope, raft: { data_dir: dataDir, self_addr: selfAddr, partner_addrs: [...partners] } };
}
