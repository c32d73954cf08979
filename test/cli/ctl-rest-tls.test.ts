/**
 * `raftdcs ctl`'s REST commands over https with basic auth, side by side with Debian's patronictl
 * 3.0.2 against fake Patroni APIs that require a client certificate signed by the test CA and
 * `restapi.authentication` (./ctl-rest-helpers.ts, ./tls-fixtures.ts):
 *
 * - `restapi: {authentication, cafile, certfile, keyfile}` in the patronictl YAML: both present the
 *   client certificate and the same `authorization` header; version, pause, reload agree;
 * - `ctl: {cacert, certfile, keyfile}` instead: the same;
 * - a wrong password: 401 `not authenticated` reported alike;
 * - no CA file: the server cannot be verified (the TLS failure, retried three times, reported
 *   alike); `-k` gets through, with urllib3's InsecureRequestWarning;
 * - ours alone: a member that never answers is bounded by `--api-timeout`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describePython } from '../helpers/python.js';
import { useProcesses } from './cli-process.js';
import { ctl } from './ctl-helpers.js';
import {
  expectSame,
  normalise,
  restCluster,
  sideBySide,
  threeFakes,
  threeMembers,
  withApis,
} from './ctl-rest-helpers.js';
import { startSilentServer } from './fake-patroni.js';
import { makeTlsFiles } from './tls-fixtures.js';

const procs = useProcesses();

describePython('raftdcs ctl REST commands over https with basic auth, as patronictl', () => {
  it('client certificate, CA file, auth from restapi or ctl; 401; unverifiable server; -k', async () => {
    const dir = procs.dir();
    const tls = makeTlsFiles(dir);
    const f = await threeFakes('batman', {
      auth: 'patroni:s3cret',
      tls: { key: readFileSync(tls.serverKey), cert: readFileSync(tls.serverCert), ca: readFileSync(tls.ca) },
    });
    const fakes = Object.values(f);
    const { raft, c } = await restCluster(
      procs,
      [
        {
          scope: 'batman',
          sysid: '7111111111111111111',
          config: { loop_wait: 10 },
          members: withApis(threeMembers(), f),
          leader: 'pg1',
          optime: 1000,
        },
      ],
      `restapi:\n  authentication: {username: patroni, password: s3cret}\n  cafile: ${tls.ca}\n  certfile: ${tls.clientCert}\n  keyfile: ${tls.clientKey}\n`,
    );
    const base = readFileSync(raft.yaml, 'utf8').replace(/^restapi:\n( .*\n)*/m, '');
    const variant = (name: string, yaml: string) => {
      const file = join(dir, name);
      writeFileSync(file, `${base}${yaml}`);
      return ['-c', file];
    };

    const version = await sideBySide(fakes, [...c, 'version', 'batman']);
    expectSame(version, 'version over https');
    expect(version.ours.stdout).toContain('pg3: Patroni 3.0.2 PostgreSQL 15.3\n');
    expect(version.ourRequests.map((r) => r.clientCert)).toEqual(['ctl-client', 'ctl-client', 'ctl-client']);
    expect(version.ourRequests[0]?.headers.authorization).toBe(
      `Basic ${Buffer.from('patroni:s3cret').toString('base64')}`,
    );

    const paused = await sideBySide(fakes, [...c, 'pause', 'batman']);
    expectSame(paused, 'pause over https with auth');
    expect(paused.ours.stdout).toBe('Success: cluster management is paused\n');
    expectSame(await sideBySide(fakes, [...c, 'reload', 'batman', '--force']), 'reload over https with auth');

    const viaCtl = variant(
      'ctl.yaml',
      `ctl:\n  cacert: ${tls.ca}\n  certfile: ${tls.clientCert}\n  keyfile: ${tls.clientKey}\nrestapi:\n  auth: 'patroni:s3cret'\n`,
    );
    const ctlSection = await sideBySide(fakes, [...viaCtl, 'pause', 'batman']);
    expectSame(ctlSection, 'pause with the ctl section');
    expect(ctlSection.ourRequests.map((r) => r.clientCert)).toEqual(['ctl-client']);

    const wrong = variant(
      'wrong.yaml',
      `restapi:\n  authentication: {username: patroni, password: nope}\n  cafile: ${tls.ca}\n  certfile: ${tls.clientCert}\n  keyfile: ${tls.clientKey}\n`,
    );
    const denied = await sideBySide(fakes, [...wrong, 'pause', 'batman']);
    expectSame(denied, 'pause with a wrong password');
    expect(denied.ours.stdout).toBe(
      'Failed: pause cluster management status code=401, (not authenticated)\n',
    );

    // no CA file: the server's certificate cannot be verified; -k skips the verification
    const noCa = variant('noca.yaml', "restapi:\n  auth: 'patroni:s3cret'\n");
    const unverified = await sideBySide(fakes, [...noCa, 'version', 'batman', 'pg1']);
    expectSame(unverified, 'version without a CA file');
    expect(normalise(unverified.ours.stdout)).toContain(
      `pg1: failed to get version: HTTPSConnectionPool(host='127.0.0.1', port=${f.pg1.port}): Max retries exceeded with url: /patroni (Caused by SSLError(…))`,
    );
    const insecure = await sideBySide(fakes, ['-k', ...noCa, 'version', 'batman', 'pg1']);
    expect(insecure.ours.stdout).toContain('pg1: Patroni 3.0.2 PostgreSQL 15.3\n');
    expectSame(insecure, 'version -k without a CA file');
    expect(insecure.ours.stderr).toMatch(
      /^\S+ \S+ - WARNING - InsecureRequestWarning: Unverified HTTPS request is being made to host '127\.0\.0\.1'\. Adding certificate verification is strongly advised\.\n$/,
    );
  }, 180_000);

  it('ours alone: a member that never answers is bounded by --api-timeout', async () => {
    const silent = await startSilentServer();
    const f = await threeFakes('batman');
    const { c } = await restCluster(procs, [
      {
        scope: 'batman',
        sysid: '7111111111111111111',
        config: { loop_wait: 10 },
        members: withApis(threeMembers({ pg2: { api_url: silent.apiUrl } }), { pg1: f.pg1, pg3: f.pg3 }),
        leader: 'pg1',
        optime: 1000,
      },
    ]);
    const reload = await ctl(['--api-timeout', '0.5', ...c, 'reload', 'batman', '--force']);
    expect(reload.code, reload.stderr).toBe(1);
    expect(reload.stdout).toMatch(
      /\nReload request received for member pg1 and will be processed within 10 seconds\n$/,
    );
    expect(reload.stderr).toBe(
      `Error: HTTPConnectionPool(host='127.0.0.1', port=${silent.port}): Read timed out. (read timeout=0.5)\n`,
    );
    const version = await ctl([...c, '--api-timeout', '0.5', 'version', 'batman']);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toContain(
      `pg2: failed to get version: HTTPConnectionPool(host='127.0.0.1', port=${silent.port}): Max retries exceeded with url: /patroni (Caused by ReadTimeoutError("HTTPConnectionPool(host='127.0.0.1', port=${silent.port}): Read timed out. (read timeout=0.5)"))\npg3: Patroni 3.0.2`,
    );
  }, 120_000);
});
