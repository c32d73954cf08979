/**
 * The controller's optional HTTP endpoint (off unless `--http` or `raftdcs.http` is given):
 *
 *   GET /status   JSON: every key of pysyncobj's `status` utility reply (nodes as addresses),
 *                 plus `role` (follower/candidate/leader), `leader`, `members` (Patroni's
 *                 `members` list with `connected` and `self`), `readonly_nodes`, `kv_keys`,
 *                 `ready`, `applied_local_log`, `health` (the /health and /readyz verdicts),
 *                 `raftdcs_version`
 *   GET /health   liveness: 200 while the node runs and its Raft loop ticks, else 503 (JSON body
 *                 with the reasons; ./health.ts decides)
 *   GET /readyz   readiness: 200 when the node has a leader it is in contact with (a leader: with
 *                 a majority of voters) and is caught up to within `max_lag` entries (the query
 *                 `?max_lag=N` overrides the configured value), else 503; 400 for a bad max_lag
 *   GET /metrics  Prometheus text (./metrics.ts)
 *
 * HEAD is answered like GET, without the body. Anything else is 404 (405 for other methods on those
 * paths). Read-only: no request may change the node. Close drops keep-alive connections so
 * shutdown never waits for a client.
 */

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { DEFAULT_READY_MAX_LAG, type HttpListen } from '../config/controller-config.js';
import type { KVStoreTTL } from '../kv/kvstore-ttl.js';
import type { Logger } from '../logger.js';
import { RAFT_STATE_NAMES } from '../raft/core/types.js';
import { judgeHealth } from './health-facts.js';
import { type Json, pyToJson } from './py-json.js';

const PATHS = ['/status', '/health', '/readyz', '/metrics'] as const;
type Path = (typeof PATHS)[number];

/** The `/status` document for a node (`health` judged with `readyMaxLag`). */
export function statusDocument(
  kv: KVStoreTTL,
  version: string,
  readyMaxLag = DEFAULT_READY_MAX_LAG,
): { [key: string]: Json } {
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
  const { liveness, readiness } = judgeHealth(kv, readyMaxLag);
  out.health = {
    live: liveness.live,
    ready: readiness.ready,
    checks: { ...readiness.checks },
    // a failed liveness check is readiness's `ticking` check, with the same reason
    reasons: readiness.reasons,
    lag: readiness.lag,
    max_lag: readiness.max_lag,
    last_tick_ms_ago: liveness.last_tick_ms_ago,
  };
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
  /** /readyz's max_lag when the request gives none (default DEFAULT_READY_MAX_LAG) */
  readonly readyMaxLag?: number;
}): Promise<HttpEndpoint> {
  const { kv, metrics, version, logger } = options;
  const readyMaxLag = options.readyMaxLag ?? DEFAULT_READY_MAX_LAG;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const target = req.url ?? '/';
    const q = target.indexOf('?');
    const pathname = q < 0 ? target : target.slice(0, q);
    const path = PATHS.find((p) => p === pathname);
    if (path === undefined) {
      send(res, 404, 'text/plain; charset=utf-8', `not found: try ${PATHS.join(', ')}\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    await answer(res, path, new URLSearchParams(q < 0 ? '' : target.slice(q + 1)));
  };
  const answer = async (res: ServerResponse, path: Path, query: URLSearchParams): Promise<void> => {
    switch (path) {
      case '/status':
        sendJson(res, 200, statusDocument(kv, version, readyMaxLag));
        return;
      case '/health': {
        const { liveness } = judgeHealth(kv, readyMaxLag);
        sendJson(res, liveness.live ? 200 : 503, liveness);
        return;
      }
      case '/readyz': {
        const maxLag = parseMaxLag(query.get('max_lag'), readyMaxLag);
        if (typeof maxLag === 'string') {
          sendJson(res, 400, { error: maxLag });
          return;
        }
        const { readiness } = judgeHealth(kv, maxLag);
        sendJson(res, readiness.ready ? 200 : 503, readiness);
        return;
      }
      case '/metrics':
        send(res, 200, metrics.contentType, await metrics.metrics());
        return;
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

/** `?max_lag=N` (a whole number >= 0), the default when absent, or the error text. */
function parseMaxLag(text: string | null, fallback: number): number | string {
  if (text === null) return fallback;
  if (/^[0-9]{1,15}$/.test(text)) return Number(text);
  return `max_lag must be a whole number >= 0, got ${JSON.stringify(text)}`;
}

function sendJson(res: ServerResponse, code: number, body: object): void {
  send(res, code, 'application/json', `${JSON.stringify(body, null, 2)}\n`);
}

function send(res: ServerResponse, code: number, type: string, body: string): void {
  res.writeHead(code, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}
