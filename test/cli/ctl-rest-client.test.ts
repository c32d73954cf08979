/**
 * The REST client of `raftdcs ctl` in-process (fast, no Raft, no Python), against fake Patroni APIs
 * (./fake-patroni.ts) and raw sockets:
 *
 * - settings from the configuration as patronictl 3.0.2's request.py reads them (ctl before
 *   restapi, `restapi.authentication` → basic auth, insecure with and without a client
 *   certificate, the CA file keys), and the restart reply time;
 * - the request: URL from `api_url` (endpoint replaces the path; without one the path and query
 *   stay), Python's `json.dumps` body, `Content-Length: 0` for a POST without data, the auth header;
 * - failures worded as urllib3's: refused (retried, three `Retrying (…)` warnings), read time-outs
 *   (a POST is not retried, a GET ends in `Max retries exceeded … ReadTimeoutError`), a connection
 *   closed without a reply, a bad URL;
 * - https: CA verification, a certificate no CA vouches for, a host name mismatch (checked unless
 *   insecure), `-k` without a client certificate, the client certificate presented (its key
 *   opened by `keyfile_password`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CtlError } from '../../src/cli/ctl/config.js';
import { PatroniRestClient } from '../../src/cli/ctl/rest-client.js';
import { RestRequestError } from '../../src/cli/ctl/rest-errors.js';
import { restartReplySeconds, restSettings } from '../../src/cli/ctl/rest-settings.js';
import { type ConfigMap, parseYaml } from '../../src/config/yaml.js';
import type { Logger } from '../../src/logger.js';
import { freePorts } from '../helpers/ports.js';
import { startFakePatroni, startSilentServer } from './fake-patroni.js';
import { makeTlsFiles, type TlsFiles } from './tls-fixtures.js';

const yaml = (text: string) => parseYaml(text, 'test') as ConfigMap;

function recorder(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (_o, msg) => {
      lines.push(msg ?? '');
    },
    error: () => undefined,
    child: () => log,
  };
  return { log, lines };
}

async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RestRequestError) return e.message;
    throw e;
  }
  throw new Error('the request did not fail');
}

describe('REST settings from the configuration (request.py)', () => {
  it('ctl.X before restapi.X; restapi.authentication becomes the basic auth; ctl.auth wins', () => {
    const s = restSettings(
      yaml(`
restapi:
  certfile: /r/cert.pem
  keyfile: /r/key.pem
  keyfile_password: rk
  cafile: /r/ca.pem
  auth: 'ignored:because-authentication-is-set'
  authentication: {username: patroni, password: 1234}
ctl:
  keyfile: /c/key.pem
`),
    );
    expect(s.auth).toBe('patroni:1234');
    expect(s.tls).toEqual({
      certFile: { path: '/r/cert.pem', key: 'restapi.certfile' },
      keyFile: { path: '/c/key.pem', key: 'ctl.keyfile' },
      keyPassword: 'rk',
      caFile: { path: '/r/ca.pem', key: 'restapi.cafile' },
      verifyPeer: true,
      checkHostname: true,
    });
    expect(restSettings(yaml('restapi: {auth: "a:b"}\nctl: {auth: "c:d", cacert: /c/ca.pem}')).auth).toBe(
      'c:d',
    );
    expect(restSettings(yaml('ctl: {cacert: /c/ca.pem}\nrestapi: {cafile: /r/ca.pem}')).tls.caFile?.key).toBe(
      'ctl.cacert',
    );
    expect(restSettings(yaml('scope: x')).auth).toBeNull();
    expect(restSettings(yaml('scope: x')).timeoutSeconds).toBe(10);
    expect(restSettings(yaml('scope: x'), { timeoutSeconds: 2.5 }).timeoutSeconds).toBe(2.5);
  });

  it('insecure: no verification without a client certificate; with one, the chain but not the name', () => {
    const plain = restSettings(yaml('ctl: {insecure: true}')).tls;
    expect([plain.verifyPeer, plain.checkHostname]).toEqual([false, false]);
    const flag = restSettings(yaml('scope: x'), { insecure: true }).tls;
    expect([flag.verifyPeer, flag.checkHostname]).toEqual([false, false]);
    const withCert = restSettings(yaml('ctl: {certfile: /c.pem}'), { insecure: true }).tls;
    expect([withCert.verifyPeer, withCert.checkHostname]).toEqual([true, false]);
    const secure = restSettings(yaml('ctl: {insecure: false}')).tls;
    expect([secure.verifyPeer, secure.checkHostname]).toEqual([true, true]);
  });

  it('unusable values are errors naming the key', () => {
    expect(() => restSettings(yaml('ctl: [1]'))).toThrow(CtlError);
    expect(() => restSettings(yaml('ctl: {certfile: [a]}'))).toThrow(/ctl\.certfile: expected a string/);
    expect(() => restSettings(yaml('restapi: {authentication: {username: u}}'))).toThrow(
      /restapi\.authentication\.password: missing/,
    );
    expect(() => restSettings(yaml('ctl: {auth: "ü:€"}'))).toThrow(/Latin-1/);
  });

  it('an immediate restart may take its time-out (default 300 s) plus a minute', () => {
    expect(restartReplySeconds(null, 10)).toBe(360);
    expect(restartReplySeconds('30', 10)).toBe(90);
    expect(restartReplySeconds('5min', 10)).toBe(360);
    expect(restartReplySeconds('garbage', 10)).toBe(360);
    expect(restartReplySeconds('30', 1000)).toBe(1000);
  });
});

describe('REST requests', () => {
  const client = (config = 'scope: x', timeoutSeconds = 2) => {
    const r = recorder();
    return { ...r, c: new PatroniRestClient(restSettings(yaml(config), { timeoutSeconds }), r.log) };
  };

  it('URL, body, headers as patronictl sends them', async () => {
    const fake = await startFakePatroni('pg1');
    const { c } = client('restapi: {authentication: {username: patroni, password: s3cret}}');
    const base = `http://127.0.0.1:${fake.port}/patroni?x=1`;
    await c.request({ apiUrl: base, method: 'GET', endpoint: null });
    await c.request({ apiUrl: base, method: 'POST', endpoint: 'reload' });
    const reply = await c.request({
      apiUrl: base,
      method: 'PATCH',
      endpoint: 'config',
      body: new Map<string, string | boolean | null>([
        ['pause', true],
        ['é', 'ü'],
      ]),
    });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ pause: true, é: 'ü' });
    expect(fake.requests.map((r) => [r.method, r.path, r.body, r.headers['content-length']])).toEqual([
      ['GET', '/patroni?x=1', '', undefined],
      ['POST', '/reload', '', '0'],
      ['PATCH', '/config', '{"pause": true, "\\u00e9": "\\u00fc"}', '35'],
    ]);
    for (const r of fake.requests) {
      expect(r.headers.authorization).toBe(`Basic ${Buffer.from('patroni:s3cret').toString('base64')}`);
      expect(r.headers['accept-encoding']).toBe('identity');
      expect(r.headers['content-type']).toBeUndefined();
      expect(r.headers['user-agent']).toMatch(/^raftdcs\/\S+ Node\/\S+ \S+$/);
    }
  });

  it('refused: retried three times with urllib3 warnings, then Max retries exceeded', async () => {
    const [port] = await freePorts(1);
    const { c, lines } = client();
    const message = await failure(
      c.request({
        apiUrl: `http://127.0.0.1:${port}/patroni`,
        method: 'POST',
        endpoint: 'restart',
        body: {},
      }),
    );
    expect(message).toBe(
      `HTTPConnectionPool(host='127.0.0.1', port=${port}): Max retries exceeded with url: /restart (Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))`,
    );
    expect(lines).toEqual(
      [2, 1, 0].map(
        (n) =>
          `Retrying (Retry(total=${n}, connect=None, read=None, redirect=None, status=None)) after connection broken by 'NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused')': /restart`,
      ),
    );
  });

  it('no reply: a POST times out once; a GET ends in Max retries exceeded (ReadTimeoutError)', async () => {
    const silent = await startSilentServer();
    const { c, lines } = client('scope: x', 0.3);
    const t0 = Date.now();
    expect(await failure(c.request({ apiUrl: silent.apiUrl, method: 'POST', endpoint: 'reload' }))).toBe(
      `HTTPConnectionPool(host='127.0.0.1', port=${silent.port}): Read timed out. (read timeout=0.3)`,
    );
    expect(await failure(c.request({ apiUrl: silent.apiUrl, method: 'GET', endpoint: null }))).toBe(
      `HTTPConnectionPool(host='127.0.0.1', port=${silent.port}): Max retries exceeded with url: /patroni (Caused by ReadTimeoutError("HTTPConnectionPool(host='127.0.0.1', port=${silent.port}): Read timed out. (read timeout=0.3)"))`,
    );
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(lines).toEqual([]);
  });

  it('a connection closed without a reply; a URL that is not http(s)', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((s) => {
      sockets.add(s);
      s.once('data', () => s.destroy());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    try {
      const { c, lines } = client();
      const apiUrl = `http://127.0.0.1:${port}/patroni`;
      expect(await failure(c.request({ apiUrl, method: 'POST', endpoint: 'restart', body: {} }))).toBe(
        "('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))",
      );
      expect(await failure(c.request({ apiUrl, method: 'DELETE', endpoint: 'restart' }))).toBe(
        `HTTPConnectionPool(host='127.0.0.1', port=${port}): Max retries exceeded with url: /restart (Caused by ProtocolError('Connection aborted.', RemoteDisconnected('Remote end closed connection without response')))`,
      );
      expect(lines).toHaveLength(3);
      expect(await failure(c.request({ apiUrl: 'ftp://h/patroni', method: 'GET', endpoint: null }))).toBe(
        'Not supported URL scheme ftp',
      );
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});

describe('REST requests over https', () => {
  let dir = '';
  let tls: TlsFiles;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'raftdcs-tls-'));
    tls = makeTlsFiles(dir);
  }, 60_000);
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (config: string, apiUrl: string, insecure = false) =>
    new PatroniRestClient(restSettings(yaml(config), { insecure, timeoutSeconds: 5 })).request({
      apiUrl,
      method: 'GET',
      endpoint: 'patroni',
    });

  it('the CA file verifies the server; the client certificate is presented', async () => {
    const fake = await startFakePatroni('pg1', {
      tls: { key: readFileSync(tls.serverKey), cert: readFileSync(tls.serverCert), ca: readFileSync(tls.ca) },
    });
    const reply = await call(
      `ctl: {cacert: ${tls.ca}, certfile: ${tls.clientCert}, keyfile: ${tls.clientKey}}`,
      fake.apiUrl,
    );
    expect(reply.status).toBe(200);
    expect(fake.requests.map((r) => r.clientCert)).toEqual(['ctl-client']);
    // restapi.certfile is the client certificate too (as in patronictl)
    await call(
      `restapi: {cafile: ${tls.ca}, certfile: ${tls.clientCert}, keyfile: ${tls.clientKey}}`,
      fake.apiUrl,
    );
    // without one, none is presented
    await call(`ctl: {cacert: ${tls.ca}}`, fake.apiUrl);
    // an encrypted key opened by keyfile_password
    const encrypted = (password: string) =>
      `ctl: {cacert: ${tls.ca}, certfile: ${tls.clientCert}, keyfile: ${tls.clientKeyEncrypted}, keyfile_password: ${password}}`;
    await call(encrypted('pw'), fake.apiUrl);
    expect(fake.requests.map((r) => r.clientCert)).toEqual(['ctl-client', 'ctl-client', null, 'ctl-client']);
    expect(await failure(call(encrypted('wrong'), fake.apiUrl))).toMatch(
      /^the client certificate or key cannot be used: /,
    );
    expect(fake.requests).toHaveLength(4);
  });

  it('unverifiable certificates fail unless insecure; a wrong name fails unless insecure with a client cert', async () => {
    const self = await startFakePatroni('pg1', {
      tls: { key: readFileSync(tls.selfSignedKey), cert: readFileSync(tls.selfSignedCert) },
    });
    const wrong = await startFakePatroni('pg2', {
      tls: { key: readFileSync(tls.wrongNameKey), cert: readFileSync(tls.wrongNameCert) },
    });
    const selfFailure = await failure(call(`ctl: {cacert: ${tls.ca}}`, self.apiUrl));
    expect(selfFailure).toMatch(
      new RegExp(
        `^HTTPSConnectionPool\\(host='127\\.0\\.0\\.1', port=${self.port}\\): Max retries exceeded with url: /patroni \\(Caused by SSLError\\('self[- ]signed certificate'\\)\\)$`,
      ),
    );
    expect((await call('scope: x', self.apiUrl, true)).status).toBe(200);
    expect((await call('ctl: {insecure: true}', self.apiUrl)).status).toBe(200);

    expect(await failure(call(`ctl: {cacert: ${tls.ca}}`, wrong.apiUrl))).toMatch(
      /Caused by SSLError\(["'].*127\.0\.0\.1/,
    );
    // a client certificate keeps the chain verified, -k only drops the name check
    const withCert = `ctl: {cacert: ${tls.ca}, certfile: ${tls.clientCert}, keyfile: ${tls.clientKey}}`;
    expect((await call(withCert, wrong.apiUrl, true)).status).toBe(200);
    expect(
      await failure(call(`ctl: {certfile: ${tls.clientCert}, keyfile: ${tls.clientKey}}`, self.apiUrl, true)),
    ).toMatch(/Caused by SSLError/);
    // an unreadable file
    expect(await failure(call('ctl: {cacert: /nonexistent/ca.pem}', self.apiUrl))).toMatch(
      /^ctl\.cacert: cannot read \/nonexistent\/ca\.pem: ENOENT/,
    );
  });
});
