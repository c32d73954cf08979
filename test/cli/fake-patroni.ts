/**
 * Fake Patroni REST APIs for the `raftdcs ctl` tests: one small node http(s) server per member,
 * registered as the member's `api_url`, that records every request (method, path, headers, body)
 * and answers the endpoints patronictl uses as Patroni 3.0.2's `patroni/api.py` does:
 *
 * - `GET /patroni`: 200 and the member's status JSON (`state`, `role`, `server_version`,
 *   `patroni: {version, scope}`, `pause` when paused, …);
 * - `PATCH /config` (auth checked): a JSON object or 400; applied to the fake's copy of the
 *   configuration (a `null` removes a key) and answered with the whole of it (200), after the
 *   `onConfigPatch` hook (which the tests use to write the DCS as Patroni would);
 * - `POST /reload`: 202 `reload scheduled`;
 * - `POST /restart`: the body keys checked as api.py checks them (400 for an unknown key or a bad
 *   version or time-out, 422/400 for a bad `schedule`, 500 `Can't schedule restart in the paused
 *   state`); a schedule is kept (202 `Restart scheduled`, 409 when one is kept already); an
 *   immediate restart is 200 `restarted successfully`, or 503 `restart conditions are not
 *   satisfied` when `restart_pending`/`postgres_version` do not match the member;
 * - `DELETE /restart`: 200 `scheduled restart deleted` / 404 `no restarts are scheduled`;
 * - `DELETE /switchover`: 200 `scheduled switchover deleted` / 404 `no switchover is scheduled`;
 * - `POST /reinitialize`: 503 `I am the leader, can not reinitialize` on the leader, 503
 *   `reinitialize already in progress` unless `force`, else 200 `reinitialize started`, after
 *   which `GET /patroni` reports `creating replica` for `reinitPolls` requests.
 *
 * Errors sent with Python's `send_error` carry http.server's HTML error page. A test can replace
 * any endpoint's answer (`fake.answer(...)`). Every server is closed in afterEach.
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach } from 'vitest';
import { type PyJson, pyJsonDumpsWith } from '../../src/dcs/model/json.js';

export interface RecordedRequest {
  /** arrival order across every fake of the test process */
  readonly seq: number;
  readonly member: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** the client certificate's subject CN, when one was presented */
  readonly clientCert: string | null;
}

export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

type Answer = (req: RecordedRequest) => Reply | Promise<Reply>;

export interface FakeState {
  state: string;
  role: 'master' | 'replica';
  serverVersion: number;
  patroniVersion: string;
  paused: boolean;
  pendingRestart: boolean;
  scheduledRestart: Record<string, unknown> | null;
  switchoverScheduled: boolean;
  reinitInProgress: boolean;
  /** how many `GET /patroni` report `creating replica` after a reinitialize */
  reinitPolls: number;
  config: Record<string, unknown>;
}

export interface FakePatroni {
  readonly name: string;
  readonly port: number;
  /** `http(s)://127.0.0.1:<port>/patroni` */
  readonly apiUrl: string;
  readonly requests: RecordedRequest[];
  readonly state: FakeState;
  /** replace the answer of one endpoint (`'POST /restart'`) */
  answer(endpoint: string, fn: Answer): void;
  /** called with a PATCH /config body before it is answered */
  onConfigPatch: ((patch: Record<string, unknown>) => Promise<void>) | null;
  close(): Promise<void>;
}

export interface FakeOptions {
  readonly scope?: string;
  readonly role?: 'master' | 'replica';
  /** `user:password`: the auth Patroni's `restapi.authentication` would require */
  readonly auth?: string;
  readonly tls?: {
    readonly key: string | Buffer;
    readonly cert: string | Buffer;
    readonly ca?: string | Buffer;
  };
  readonly state?: Partial<FakeState>;
}

/** Python http.server's `send_error` page. */
const REASONS: Record<number, readonly [string, string]> = {
  400: ['Bad Request', 'Bad request syntax or unsupported method'],
  409: ['Conflict', 'Request conflict'],
  411: ['Length Required', 'Client must specify Content-Length'],
  502: ['Bad Gateway', 'Invalid responses from another server/proxy'],
  503: ['Service Unavailable', 'The server cannot process the request due to a high load'],
};

export function sendError(code: number): Reply {
  const [message, explain] = REASONS[code] ?? ['Error', ''];
  return {
    status: code,
    contentType: 'text/html;charset=utf-8',
    body: `<!DOCTYPE HTML>\n<html lang="en">\n    <head>\n        <meta charset="utf-8">\n        <title>Error response</title>\n    </head>\n    <body>\n        <h1>Error response</h1>\n        <p>Error code: ${code}</p>\n        <p>Message: ${message}.</p>\n        <p>Error code explanation: ${code} - ${explain}.</p>\n    </body>\n</html>\n`,
  };
}

const text = (status: number, body: string): Reply => ({ status, body, contentType: 'text/html' });
/** api.py's `_write_json_response`: `json.dumps(value)` */
const json = (status: number, value: unknown): Reply => ({
  status,
  body: pyJsonDumpsWith(value as PyJson, [', ', ': ']),
  contentType: 'application/json',
});

function pgVersionInt(v: string): number | null {
  const parts = v.split('.').map((p) => Number(p));
  if (parts.some((p) => !Number.isInteger(p)) || parts.length < 2 || parts.length > 3) return null;
  if (parts.length === 2 && (parts[0] as number) < 10) return null;
  if (parts.length === 2) parts.splice(1, 0, 0);
  return Number(parts.map((p) => String(p).padStart(2, '0')).join(''));
}

/** api.py's `parse_int(value, 's')` for what the tests send (`30`, `30s`, `5min`). */
function parseSeconds(v: unknown): number | null {
  const m = /^\s*([0-9]+)\s*(s|min|h)?\s*$/.exec(String(v));
  if (!m) return null;
  return Number(m[1]) * (m[2] === 'min' ? 60 : m[2] === 'h' ? 3600 : 1);
}

function patchInto(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (
      typeof v === 'object' &&
      !Array.isArray(v) &&
      typeof target[k] === 'object' &&
      target[k] !== null
    ) {
      patchInto(target[k] as Record<string, unknown>, v as Record<string, unknown>);
    } else target[k] = v;
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** api.py's `_read_json_content`: the object, or the reply to send instead. */
function jsonContent(r: RecordedRequest, optional: boolean): Record<string, unknown> | Reply {
  if (r.headers['content-length'] === undefined) return optional ? {} : sendError(411);
  if (r.body === '' && optional) return {};
  try {
    const v = JSON.parse(r.body) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v) && (Object.keys(v).length > 0 || optional)) {
      return v as Record<string, unknown>;
    }
  } catch {
    // fall through
  }
  return sendError(400);
}

const isReply = (v: Record<string, unknown> | Reply): v is Reply => typeof (v as Reply).status === 'number';

const closers: (() => Promise<void>)[] = [];
let arrivals = 0;
afterEach(async () => {
  const all = closers.splice(0);
  await Promise.all(all.map((close) => close()));
});

/** Close a server, its open connections first. */
function closer(server: { close(cb: () => void): unknown }, sockets: Set<Socket>): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
}

/** One fake Patroni REST API on 127.0.0.1 (an ephemeral port). */
export async function startFakePatroni(name: string, o: FakeOptions = {}): Promise<FakePatroni> {
  const state: FakeState = {
    state: 'running',
    role: o.role ?? 'replica',
    serverVersion: 150003,
    patroniVersion: '3.0.2',
    paused: false,
    pendingRestart: false,
    scheduledRestart: null,
    switchoverScheduled: false,
    reinitInProgress: false,
    reinitPolls: 1,
    config: { ttl: 30, loop_wait: 10 },
    ...o.state,
  };
  const requests: RecordedRequest[] = [];
  const overrides = new Map<string, Answer>();
  let creatingReplicaPolls = 0;

  const authFailure = (r: RecordedRequest): Reply | null => {
    if (!o.auth) return null;
    const h = r.headers.authorization;
    const reply = (reason: string): Reply => ({
      status: 401,
      body: reason,
      contentType: 'text/html',
      headers: { 'WWW-Authenticate': 'Basic realm="Patroni"' },
    });
    if (h === undefined) return reply('no auth header received');
    if (!h.startsWith('Basic ') || h.slice(6) !== Buffer.from(o.auth).toString('base64')) {
      return reply('not authenticated');
    }
    return null;
  };

  const status = (): Record<string, unknown> => {
    let s = state.state;
    if (creatingReplicaPolls > 0) {
      creatingReplicaPolls--;
      s = 'creating replica';
    }
    const out: Record<string, unknown> = {
      state: s,
      postmaster_start_time: '2024-05-01 12:00:00.000000+00:00',
      role: state.role,
      server_version: state.serverVersion,
      xlog:
        state.role === 'master'
          ? { location: 50331648 }
          : {
              received_location: 50331648,
              replayed_location: 50331648,
              replayed_timestamp: null,
              paused: false,
            },
      timeline: 2,
      dcs_last_seen: 1714564800,
      database_system_identifier: '7111111111111111111',
    };
    if (state.pendingRestart) out.pending_restart = true;
    out.patroni = { version: state.patroniVersion, scope: o.scope ?? 'batman' };
    if (state.scheduledRestart) out.scheduled_restart = state.scheduledRestart;
    if (state.paused) out.pause = true;
    return out;
  };

  const restart = (r: RecordedRequest): Reply => {
    const request = jsonContent(r, true);
    if (isReply(request)) return request;
    if (state.paused && 'schedule' in request) return text(500, "Can't schedule restart in the paused state");
    for (const [k, v] of Object.entries(request)) {
      if (k === 'schedule') {
        const at = new Date(String(v));
        if (Number.isNaN(at.getTime())) {
          return text(
            422,
            'Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601',
          );
        }
        if (!/(Z|[+-][0-9]{2}:?[0-9]{2})$/.test(String(v))) {
          return text(400, 'Timezone information is mandatory for the scheduled restart');
        }
        if (at.getTime() < Date.now()) return text(422, 'Cannot schedule restart in the past');
      } else if (k === 'role') {
        if (!['master', 'primary', 'replica'].includes(String(v))) {
          return text(400, 'PostgreSQL role should be either primary or replica');
        }
      } else if (k === 'postgres_version') {
        if (pgVersionInt(String(v)) === null)
          return text(400, `Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: ${v}`);
      } else if (k === 'timeout') {
        const t = parseSeconds(v);
        if (t === null || t <= 0) return text(400, 'Timeout should be a positive number of seconds');
      } else if (k !== 'restart_pending') {
        return text(400, `Unknown filter for the scheduled restart: ${k}`);
      }
    }
    if ('schedule' in request) {
      if (state.scheduledRestart) return text(409, 'Another restart is already scheduled');
      state.scheduledRestart = { ...request };
      return text(202, 'Restart scheduled');
    }
    const wanted =
      typeof request.postgres_version === 'string' ? pgVersionInt(request.postgres_version) : null;
    if (
      (request.restart_pending && !state.pendingRestart) ||
      (wanted !== null && state.serverVersion >= wanted)
    ) {
      return text(503, 'restart conditions are not satisfied');
    }
    return text(200, 'restarted successfully');
  };

  const handlers: Record<string, Answer> = {
    'GET /patroni': () => json(200, status()),
    'PATCH /config': async (r) => {
      const request = jsonContent(r, false);
      if (isReply(request)) return request;
      await fake.onConfigPatch?.(request);
      patchInto(state.config, request);
      return json(200, state.config);
    },
    'POST /reload': () => text(202, 'reload scheduled'),
    'POST /restart': restart,
    'DELETE /restart': () => {
      if (!state.scheduledRestart) return text(404, 'no restarts are scheduled');
      state.scheduledRestart = null;
      return text(200, 'scheduled restart deleted');
    },
    'DELETE /switchover': () => {
      if (!state.switchoverScheduled) return text(404, 'no switchover is scheduled');
      state.switchoverScheduled = false;
      return text(200, 'scheduled switchover deleted');
    },
    'POST /reinitialize': (r) => {
      const request = jsonContent(r, true);
      if (isReply(request)) return request;
      if (state.role === 'master') return text(503, 'I am the leader, can not reinitialize');
      const force = ['true', 'on', 'yes', '1'].includes(String(request.force).toLowerCase());
      if (state.reinitInProgress && !force) return text(503, 'reinitialize already in progress');
      state.reinitInProgress = false;
      creatingReplicaPolls = state.reinitPolls;
      return text(200, 'reinitialize started');
    },
  };
  const needsAuth = new Set([
    'PATCH /config',
    'POST /reload',
    'POST /restart',
    'DELETE /restart',
    'DELETE /switchover',
    'POST /reinitialize',
  ]);

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
    const socket = req.socket as TLSSocket;
    const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : null;
    const r: RecordedRequest = {
      seq: ++arrivals,
      member: name,
      method: req.method ?? '',
      path: req.url ?? '',
      headers,
      body,
      clientCert: peer && typeof peer.subject?.CN === 'string' ? peer.subject.CN : null,
    };
    requests.push(r);
    const endpoint = `${r.method} ${r.path.split('?')[0]}`;
    let reply: Reply;
    const denied = needsAuth.has(endpoint) ? authFailure(r) : null;
    if (denied) reply = denied;
    else {
      const fn = overrides.get(endpoint) ?? handlers[endpoint];
      reply = fn ? await fn(r) : sendError(501);
    }
    res.writeHead(reply.status, { 'Content-Type': reply.contentType ?? 'text/html', ...reply.headers });
    res.end(reply.body);
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500);
      res.end(String(e));
    });
  };
  const server: Server = o.tls
    ? createHttpsServer(
        {
          key: o.tls.key,
          cert: o.tls.cert,
          ca: o.tls.ca,
          requestCert: Boolean(o.tls.ca),
          rejectUnauthorized: false,
        },
        listener,
      )
    : createHttpServer(listener);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const fake: FakePatroni = {
    name,
    port,
    apiUrl: `${o.tls ? 'https' : 'http'}://127.0.0.1:${port}/patroni`,
    requests,
    state,
    onConfigPatch: null,
    answer(endpoint, fn) {
      overrides.set(endpoint, fn);
    },
    close: closer(server, sockets),
  };
  closers.push(fake.close);
  return fake;
}

/** A server that accepts connections and never answers (for time-outs), closed in afterEach. */
export async function startSilentServer(): Promise<{ port: number; apiUrl: string }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const port = (server.address() as { port: number }).port;
  closers.push(closer(server, sockets));
  return { port, apiUrl: `http://127.0.0.1:${port}/patroni` };
}
