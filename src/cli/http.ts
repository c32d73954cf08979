/**
 * The controller's optional HTTP endpoint (off unless `--http` or `raftdcs.http` is given):
 *
 *   GET /status   JSON: every key of pysyncobj's `status` utility reply (nodes as addresses),
 *                 plus `role` (follower/candidate/leader), `leader`, `members` (Patroni's
 *                 `members` list with `connected` and `self`), `readonly_nodes`, `kv_keys`,
 *                 `ready`, `applied_local_log`, `raftdcs_version`
 *   GET /metrics  Prometheus text (./metrics.ts)
 *
 * Anything else is 404 (405 for other methods on those paths). Read-only: no request may change
 * the node. Close drops keep-alive connections so shutdown never waits for a client.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { HttpListen } from '../config/controller-config.js';
import type { KVStoreTTL } from '../kv/kvstore-ttl.js';
import type { Logger } from '../logger.js';
import { RAFT_STATE_NAMES } from '../raft/core/types.js';
import { type Json, pyToJson } from './py-json.js';

/** The `/status` document for a node. */
export function statusDocument(kv: KVStoreTTL, version: string): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const [k, v] of Object.entries(kv.getStatus())) out[k] = pyToJson(v);
  const self = kv.selfNode;
  out.role = RAFT_STATE_NAMES[kv.raftState];
  out.leader = kv.getLeader();
  out.members = pyMembers(kv).map((m) => ({ ...m, connected: m.status === 2, self: m.addr === self }));
  out.readonly_nodes = kv.readonlyNodes;
  out.kv_keys = kv.size;
  out.ready = kv.isReady();
  out.applied_local_log = kv.appliedLocalLog;
  out.raftdcs_version = version;
  return out;
}

function pyMembers(kv: KVStoreTTL): { addr: string; leader: boolean; status: number }[] {
  const out: { addr: string; leader: boolean; status: number }[] = [];
  for (const entry of kv.membersReply()) {
    const j = pyToJson(entry);
    if (j !== null && typeof j === 'object' && !Array.isArray(j)) {
      out.push({ addr: String(j.addr), leader: j.leader === true, status: Number(j.status) });
    }
  }
  return out;
}

export interface HttpEndpoint {
  /** `host:port` actually listened on */
  readonly address: string;
  close(): Promise<void>;
}

export async function startHttpEndpoint(options: {
  readonly listen: HttpListen;
  readonly kv: KVStoreTTL;
  readonly metrics: Registry;
  readonly version: string;
  readonly logger: Logger;
}): Promise<HttpEndpoint> {
  const { kv, metrics, version, logger } = options;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/status' && path !== '/metrics') {
      send(res, 404, 'text/plain; charset=utf-8', 'not found: try /status or /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    if (path === '/status') {
      send(res, 200, 'application/json', `${JSON.stringify(statusDocument(kv, version), null, 2)}\n`);
    } else {
      send(res, 200, metrics.contentType, await metrics.metrics());
    }
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      logger.error({ err: e, url: req.url }, 'HTTP request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.listen.host, port: options.listen.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => logger.error({ err: e }, 'HTTP endpoint error'));
  const a = server.address() as AddressInfo;
  const address = a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
