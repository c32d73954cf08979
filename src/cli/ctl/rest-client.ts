/**
 * Requests to a member's Patroni REST API, as patronictl 3.0.2 sends them (`PatroniRequest`):
 *
 * - the URL: the member's `api_url` itself (`version`), or its scheme and host with the endpoint
 *   as the whole path (`http://10.0.0.1:8008/restart`) — query and path of `api_url` dropped;
 * - the body: Python's `json.dumps(data)` (separators `, ` and `: `, ASCII escapes), no
 *   Content-Type (Patroni reads the body by Content-Length only); a POST or PATCH without data
 *   sends `Content-Length: 0`, as Python's http.client does;
 * - headers: `Accept-Encoding: identity`, our own `User-Agent` (`raftdcs/0.1.0 Node/20.19.0
 *   Linux`, in Patroni's shape), `authorization: Basic …` when configured (./rest-settings.ts);
 * - http or https with the configured client certificate, CA file and verification (without
 *   verification, urllib3's `InsecureRequestWarning: Unverified HTTPS request …` once per host);
 * - a connection that fails is retried up to three times, like urllib3's default `Retry(3)` — for
 *   GET and DELETE also a connection closed before the reply — each retry announced by urllib3's
 *   warning (`Retrying (Retry(total=2, …)) after connection broken by '…': /config`); time-outs
 *   are not retried (they would only multiply the wait);
 * - every connect and every wait for response bytes is bounded (./rest-settings.ts); a failure is
 *   a RestRequestError worded as patronictl words it (./rest-errors.ts).
 *
 * Any reply is returned with its status and body (decoded as UTF-8); what a status means is up to
 * the command. This module is the only one in `raftdcs ctl` that opens HTTP connections.
 */
import { readFileSync } from 'node:fs';
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type as osType } from 'node:os';
import { type PyJson, pyJsonDumpsWith } from '../../dcs/model/json.js';
import type { Logger } from '../../logger.js';
import { RAFTDCS_VERSION } from '../../version.js';
import {
  failureMessage,
  type RestFailure,
  RestRequestError,
  retryWarning,
  worthRetrying,
} from './rest-errors.js';
import type { RestSettings } from './rest-settings.js';

export type RestMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export interface RestCall {
  /** the member's `api_url` */
  readonly apiUrl: string;
  readonly method: RestMethod;
  /** `restart`, `config`, …; null: the `api_url` itself */
  readonly endpoint: string | null;
  /** sent as Python's `json.dumps(body)`; undefined: no body */
  readonly body?: PyJson;
  /** seconds to wait for the reply, when longer than the configured time-out */
  readonly replySeconds?: number;
}

export interface RestReply {
  readonly status: number;
  readonly body: string;
}

/** `User-Agent`, in the shape of Patroni's `Patroni/3.0.2 Python/3.11.2 Linux`. */
export const USER_AGENT = `raftdcs/${RAFTDCS_VERSION} Node/${process.versions.node} ${osType()}`;

const ATTEMPTS = 4;

interface Target {
  readonly https: boolean;
  readonly host: string;
  readonly port: number;
  readonly path: string;
}

/** Where a call goes: `urlunparse((scheme, netloc, endpoint, '', '', ''))` of the api_url. */
export function callTarget(apiUrl: string, endpoint: string | null): Target {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    throw new RestRequestError(`Failed to parse: ${apiUrl}`, { kind: 'config', message: apiUrl });
  }
  const scheme = url.protocol.replace(/:$/, '');
  if (scheme !== 'http' && scheme !== 'https') {
    throw new RestRequestError(`Not supported URL scheme ${scheme}`, { kind: 'config', message: scheme });
  }
  const https = scheme === 'https';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port === '' ? (https ? 443 : 80) : Number(url.port);
  const path = endpoint === null ? `${url.pathname}${url.search}` : `/${endpoint.replace(/^\/+/, '')}`;
  return { https, host, port, path };
}

export class PatroniRestClient {
  private tlsFiles: { cert?: Buffer; key?: Buffer; ca?: Buffer } | null = null;
  private readonly warnedHosts = new Set<string>();

  constructor(
    private readonly settings: RestSettings,
    /** where urllib3's `Retrying (…)` warnings go */
    private readonly log: Logger | null = null,
  ) {}

  /** One call (with urllib3's retries); the reply whatever its status, or a RestRequestError. */
  async request(call: RestCall): Promise<RestReply> {
    const target = callTarget(call.apiUrl, call.endpoint);
    const body =
      call.body === undefined ? null : Buffer.from(pyJsonDumpsWith(call.body, [', ', ': ']), 'utf8');
    const readSeconds = Math.max(this.settings.timeoutSeconds, call.replySeconds ?? 0);
    if (target.https && !this.settings.tls.verifyPeer && !this.warnedHosts.has(target.host)) {
      // urllib3's InsecureRequestWarning, shown once per host as Python's warning filter does
      this.warnedHosts.add(target.host);
      this.log?.warn(
        {},
        `InsecureRequestWarning: Unverified HTTPS request is being made to host '${target.host}'. Adding certificate verification is strongly advised.`,
      );
    }
    let failure: RestFailure | null = null;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const outcome = await this.attempt(target, call.method, body, readSeconds);
      if ('status' in outcome) return outcome;
      failure = outcome.failure;
      if (attempt + 1 >= ATTEMPTS || !worthRetrying(call.method, failure)) break;
      this.log?.warn({}, retryWarning(target, failure, ATTEMPTS - 2 - attempt));
    }
    const f = failure as RestFailure;
    throw new RestRequestError(failureMessage(target, call.method, f), f);
  }

  private headers(method: RestMethod, body: Buffer | null): Record<string, string> {
    const h: Record<string, string> = { 'Accept-Encoding': 'identity', 'User-Agent': USER_AGENT };
    if (this.settings.auth !== null) {
      h.authorization = `Basic ${Buffer.from(this.settings.auth, 'latin1').toString('base64')}`;
    }
    if (body !== null) h['Content-Length'] = String(body.length);
    else if (method === 'POST' || method === 'PATCH') h['Content-Length'] = '0';
    return h;
  }

  /** The TLS options for https (files read once, on the first https call). */
  private tlsOptions(): RequestOptions & Record<string, unknown> {
    const tls = this.settings.tls;
    if (this.tlsFiles === null) {
      const read = (f: { path: string; key: string } | null): Buffer | undefined => {
        if (f === null) return undefined;
        try {
          return readFileSync(f.path);
        } catch (e) {
          const message = `${f.key}: cannot read ${f.path}: ${(e as Error).message}`;
          throw new RestRequestError(message, { kind: 'config', message });
        }
      };
      const cert = read(tls.certFile);
      this.tlsFiles = { cert, key: read(tls.keyFile) ?? cert, ca: read(tls.caFile) };
    }
    const f = this.tlsFiles;
    const o: RequestOptions & Record<string, unknown> = { rejectUnauthorized: tls.verifyPeer };
    if (f.cert) {
      o.cert = f.cert;
      o.key = f.key;
      if (tls.keyPassword !== null) o.passphrase = tls.keyPassword;
    }
    if (f.ca) o.ca = f.ca;
    if (!tls.checkHostname) o.checkServerIdentity = () => undefined;
    return o;
  }

  private attempt(
    target: Target,
    method: RestMethod,
    body: Buffer | null,
    readSeconds: number,
  ): Promise<RestReply | { failure: RestFailure }> {
    const connectSeconds = this.settings.timeoutSeconds;
    const options: RequestOptions & Record<string, unknown> = {
      host: target.host,
      port: target.port,
      method,
      path: target.path,
      headers: this.headers(method, body),
      agent: false,
      ...(target.https ? this.tlsOptions() : {}),
    };
    return new Promise((resolve) => {
      let settled = false;
      let connected = false;
      let replied = false;
      const done = (v: RestReply | { failure: RestFailure }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(v);
      };
      let timer = setTimeout(
        () => fail({ kind: 'connect-timeout', seconds: connectSeconds }),
        connectSeconds * 1000,
      );
      const rearm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => fail({ kind: 'read-timeout', seconds: readSeconds }), readSeconds * 1000);
      };
      const fail = (failure: RestFailure) => {
        done({ failure });
        req.destroy();
      };
      let req: ClientRequest;
      try {
        req = (target.https ? httpsRequest : httpRequest)(options, onReply);
      } catch (e) {
        // e.g. a key that its password does not open: nothing was sent
        clearTimeout(timer);
        settled = true;
        const message = `the client certificate or key cannot be used: ${(e as Error).message}`;
        resolve({ failure: { kind: 'config', message } });
        return;
      }
      function onReply(res: IncomingMessage): void {
        replied = true;
        rearm();
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          rearm();
        });
        res.on('end', () => {
          done({
            status: res.statusCode ?? 0,
            body: new TextDecoder('utf-8').decode(Buffer.concat(chunks)),
          });
        });
        res.on('error', (e: NodeJS.ErrnoException) => fail(closed(e)));
      }
      req.on('socket', (socket) => {
        const connectEvent = target.https ? 'secureConnect' : 'connect';
        socket.once(connectEvent, () => {
          connected = true;
          rearm();
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (settled) return;
        fail(replied || connected ? closed(e) : connectFailure(e, target.https));
      });
      req.end(body ?? undefined);
    });
  }
}

const TLS_CODE = /^(ERR_TLS_|ERR_SSL_|EPROTO$|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_|ERR_OSSL_)/;

function connectFailure(e: NodeJS.ErrnoException, https: boolean): RestFailure {
  const code = e.code ?? '';
  if (https && (TLS_CODE.test(code) || /certificate|SSL|TLS|altnames/i.test(e.message))) {
    return { kind: 'tls', message: e.message };
  }
  if (code === 'ECONNRESET' && https) return { kind: 'tls', message: e.message };
  return { kind: 'connect', code, message: e.message };
}

function closed(e: NodeJS.ErrnoException): RestFailure {
  const hangUp = /hang up/.test(e.message);
  return { kind: 'closed', code: hangUp ? null : (e.code ?? null), message: e.message };
}
