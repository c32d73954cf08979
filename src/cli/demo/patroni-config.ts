/**
 * The Patroni configuration of one PostgreSQL node of `raftdcs demo --patroni`.
 *
 * Each Patroni node is a Raft *client* of the demo's three raftdcs controllers (a `raft:` section
 * with `partner_addrs` and no `self_addr`, which Patroni documents as "the node will not
 * participate in consensus"), so the whole DCS — leader lock, members, config — lives in raftdcs.
 * Everything listens on 127.0.0.1 only. The timeouts are shorter than Patroni's defaults so that a
 * failover shows within seconds (Patroni 3.0.2 requires ttl >= 20 and loop_wait + 2 * retry_timeout
 * <= ttl); the passwords are fixed because nothing outside this machine can connect.
 */
import { stringify } from 'yaml';

export const DEMO_SCOPE = 'demo';
export const DEMO_SUPERUSER = { username: 'postgres', password: 'raftdcs-demo' };
export const DEMO_REPLICATION = { username: 'replicator', password: 'raftdcs-demo-replication' };

export interface PatroniNodeSpec {
  readonly name: string;
  /** the node's own directory (its HOME, sockets, pgpass, log) */
  readonly dir: string;
  /** PostgreSQL's data directory */
  readonly dataDir: string;
  /** Patroni's REST API port on 127.0.0.1 */
  readonly apiPort: number;
  /** PostgreSQL's port on 127.0.0.1 */
  readonly pgPort: number;
}

/** The YAML text (every string single-quoted: PyYAML reads YAML 1.1, where `on` is a boolean). */
export function patroniYaml(node: PatroniNodeSpec, raftAddrs: readonly string[], pgBinDir: string): string {
  const doc = {
    scope: DEMO_SCOPE,
    name: node.name,
    restapi: { listen: `127.0.0.1:${node.apiPort}`, connect_address: `127.0.0.1:${node.apiPort}` },
    raft: { partner_addrs: [...raftAddrs] },
    bootstrap: {
      dcs: {
        ttl: 20,
        loop_wait: 5,
        retry_timeout: 5,
        maximum_lag_on_failover: 16 * 1024 * 1024,
        postgresql: {
          use_pg_rewind: true,
          use_slots: true,
          parameters: { max_connections: 25, shared_buffers: '16MB', wal_keep_size: '64MB' },
        },
      },
      initdb: [{ encoding: 'UTF8' }, { locale: 'C.UTF-8' }],
    },
    postgresql: {
      listen: `127.0.0.1:${node.pgPort}`,
      connect_address: `127.0.0.1:${node.pgPort}`,
      data_dir: node.dataDir,
      bin_dir: pgBinDir,
      pgpass: `${node.dir}/pgpass`,
      authentication: { superuser: DEMO_SUPERUSER, replication: DEMO_REPLICATION },
      parameters: { unix_socket_directories: node.dir },
      pg_hba: [
        'local all all trust',
        'host all all 127.0.0.1/32 md5',
        'host replication all 127.0.0.1/32 md5',
      ],
    },
    watchdog: { mode: 'off' },
  };
  return `# written by \`raftdcs demo --patroni\`: PostgreSQL node ${node.name}\n${stringify(doc, {
    defaultStringType: 'QUOTE_SINGLE',
    defaultKeyType: 'PLAIN',
    lineWidth: 0,
  })}`;
}
