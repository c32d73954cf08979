/**
 * `raftdcs ctl reload`, `reinit`, `flush` and `version` against fake Patroni REST APIs, side by
 * side with Debian's patronictl 3.0.2 (./ctl-rest-helpers.ts) — same output, exit code and
 * requests:
 *
 * - reload: 202 (`… will be processed within 10 seconds`), 200 (`No changes to apply`), 503, the
 *   confirmation, `-r leader`;
 * - reinit: `{"force": true}` with `--force`; only replicas; the `Which member …` prompt and an
 *   empty answer; `already in progress` and `Do you want to cancel it and reinitialize anyway?`;
 *   `--wait` polling `GET /patroni` (and patronictl's skip of the next member in a round);
 * - flush restart: `DELETE /restart` only for members whose key has a scheduled restart (200,
 *   404); flush switchover: no scheduled switchover, 200 from the leader, 503 from the leader then
 *   404 from the next; when nobody can be reached (patronictl dies there), ours clears the failover
 *   key in the DCS;
 * - version: our own line, each member's Patroni and PostgreSQL versions from `GET <api_url>`,
 *   one member by name, a reply that is not JSON, an unreachable member;
 * - MPP (Citus): without `--group` the members of every group, with it those of one; pause goes
 *   to the configured group's leader.
 */
import { expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { describePython } from '../helpers/python.js';
import { useProcesses } from './cli-process.js';
import { ctl, memberData } from './ctl-helpers.js';
import {
  dcsWriter,
  expectSame,
  normalise,
  restCluster,
  type SideBySide,
  sideBySide,
  threeFakes,
  threeMembers,
  withApis,
} from './ctl-rest-helpers.js';
import { type FakePatroni, sendError, startFakePatroni } from './fake-patroni.js';

const procs = useProcesses();

const calls = (r: SideBySide) => r.ourRequests.map((q) => `${q.member} ${q.method} ${q.path} ${q.body}`);

describePython('raftdcs ctl reload/reinit/flush/version as patronictl', () => {
  it('reload and reinit', async () => {
    const f = await threeFakes('batman');
    const { c } = await restCluster(procs, [
      {
        scope: 'batman',
        sysid: '7111111111111111111',
        config: { loop_wait: 10 },
        members: withApis(threeMembers(), f),
        leader: 'pg1',
        optime: 1000,
      },
    ]);
    const fakes = Object.values(f);

    const reload = await sideBySide(fakes, [...c, 'reload', 'batman', '--force']);
    expectSame(reload, 'reload --force');
    expect(calls(reload)).toEqual(['pg1 POST /reload ', 'pg2 POST /reload ', 'pg3 POST /reload ']);
    expect(reload.ourRequests.map((q) => q.headers['content-length'])).toEqual(['0', '0', '0']);
    expect(reload.ours.stdout).toMatch(
      /\nReload request received for member pg1 and will be processed within 10 seconds\n/,
    );

    f.pg2.answer('POST /reload', () => ({ status: 200, body: '' }));
    f.pg3.answer('POST /reload', () => sendError(503));
    const mixed = await sideBySide(fakes, [...c, 'reload', 'batman', 'pg2', 'pg3'], { input: 'y\n' });
    expectSame(mixed, 'reload answered 200 and 503');
    expect(mixed.ours.stdout).toContain('Are you sure you want to reload members pg2, pg3? [y/N]: ');
    expect(mixed.ours.stdout).toMatch(
      /No changes to apply on member pg2\nFailed: reload for member pg3, status code=503, \(<!DOCTYPE HTML>/,
    );
    for (const [args, input] of [
      [['reload', 'batman', '-r', 'leader', '--force'], ''],
      [['reload', 'batman'], 'n\n'],
      [['reload', 'batman', 'nobody', '--force'], ''],
    ] as const) {
      expectSame(await sideBySide(fakes, [...c, ...args], { input }), args.join(' '));
    }

    const forced = await sideBySide(fakes, [...c, 'reinit', 'batman', 'pg2', '--force']);
    expectSame(forced, 'reinit --force');
    expect(calls(forced)).toEqual(['pg2 POST /reinitialize {"force": true}']);
    expect(forced.ours.stdout).toMatch(/\nSuccess: reinitialize for member pg2\n$/);

    const leader = await sideBySide(fakes, [...c, 'reinit', 'batman', 'pg1', '--force']);
    expectSame(leader, 'reinit of the leader');
    expect(leader.ours.stderr).toBe('Error: No replica among provided members\n');

    const asked = await sideBySide(fakes, [...c, 'reinit', 'batman'], { input: 'pg3\ny\n' });
    expectSame(asked, 'reinit, the member asked for');
    expect(normalise(asked.ours.stdout)).toContain(
      'Which member do you want to reinitialize [pg2, pg3]? []: Are you sure you want to reinitialize members pg3? [y/N]: Success: reinitialize for member pg3\n',
    );
    expect(calls(asked)).toEqual(['pg3 POST /reinitialize {"force": false}']);
    const empty = await sideBySide(fakes, [...c, 'reinit', 'batman'], { input: '\n' });
    expectSame(empty, 'reinit, no member named');
    expect(empty.ours.stderr).toBe('Error:  is not a member of cluster\n');

    // a reinitialize in progress: cancel it and go on
    f.pg2.state.reinitInProgress = true;
    const busy = await sideBySide(fakes, [...c, 'reinit', 'batman', 'pg2'], {
      input: 'y\ny\n',
      between: () => {
        f.pg2.state.reinitInProgress = true;
      },
    });
    expectSame(busy, 'reinit while one is in progress');
    expect(calls(busy)).toEqual([
      'pg2 POST /reinitialize {"force": false}',
      'pg2 POST /reinitialize {"force": true}',
    ]);
    expect(busy.ours.stdout).toMatch(
      /Failed: reinitialize for member pg2, status code=503, \(reinitialize already in progress\)\nDo you want to cancel it and reinitialize anyway\? \[y\/N\]: Success: reinitialize for member pg2\n$/,
    );

    // --wait: pg2 reports `creating replica` once, pg3 not at all
    f.pg3.state.reinitPolls = 0;
    const waited = await sideBySide(fakes, [...c, 'reinit', 'batman', 'pg2', 'pg3', '--force', '--wait']);
    expectSame(waited, 'reinit --wait');
    expect(waited.ours.stdout).toMatch(
      /Success: reinitialize for member pg3\nWaiting for reinitialize to complete on: pg2, pg3\nReinitialize is completed on: pg3\nWaiting for reinitialize to complete on: pg2\nReinitialize is completed on: pg2\n$/,
    );
    expect(waited.ourRequests.filter((q) => q.method === 'GET').map((q) => `${q.member} ${q.path}`)).toEqual([
      'pg2 /patroni',
      'pg3 /patroni',
      'pg2 /patroni',
    ]);
    expect(waited.ours.ms).toBeGreaterThan(3500);
  }, 180_000);

  it('flush restart and switchover', async () => {
    const [dead] = await freePorts(1);
    const f = await threeFakes('batman');
    const scheduledRestart = {
      schedule: '2030-01-01T12:00:00+00:00',
      postmaster_start_time: '2024-05-01 12:00:00+00:00',
    };
    const deadUrl = `http://127.0.0.1:${dead}/patroni`;
    const unreachable = threeMembers(
      Object.fromEntries(['pg1', 'pg2', 'pg3'].map((n) => [n, { api_url: deadUrl }])),
    );
    const { raft, c } = await restCluster(procs, [
      {
        scope: 'batman',
        sysid: '7111111111111111111',
        config: { loop_wait: 10 },
        members: withApis(threeMembers({ pg2: { scheduled_restart: scheduledRestart } }), f),
        leader: 'pg1',
        optime: 1000,
      },
      {
        scope: 'joker',
        sysid: '7111111111111111113',
        config: { loop_wait: 10 },
        members: unreachable,
        leader: 'pg1',
        optime: 1000,
      },
    ]);
    const fakes = Object.values(f);
    const failoverKey = '/service/batman/failover';

    f.pg2.state.scheduledRestart = scheduledRestart;
    const restart = await sideBySide(fakes, [...c, 'flush', 'batman', 'restart', '--force'], {
      between: () => {
        f.pg2.state.scheduledRestart = scheduledRestart;
      },
    });
    expectSame(restart, 'flush restart');
    expect(calls(restart)).toEqual(['pg2 DELETE /restart ']);
    expect(restart.ours.stdout).toMatch(
      /\nNo scheduled restart for member pg1\nSuccess: flush scheduled restart for member pg2\nNo scheduled restart for member pg3\n$/,
    );
    // the member key still says so, the member does not
    const gone = await sideBySide(fakes, [...c, 'flush', 'batman', 'pg2', 'restart'], { input: 'y\n' });
    expectSame(gone, 'flush restart, 404');
    expect(gone.ours.stdout).toMatch(
      /Are you sure you want to flush members pg2\? \[y\/N\]: Failed: flush scheduled restart for member pg2, status code=404, \(no restarts are scheduled\)\n$/,
    );

    const nothing = await sideBySide(fakes, [...c, 'flush', 'batman', 'switchover']);
    expectSame(nothing, 'flush switchover without one');
    expect(nothing.ours.stdout).toBe('No pending scheduled switchover\n');

    const writer = await dcsWriter(raft);
    await writer.set(
      failoverKey,
      '{"leader":"pg1","member":"pg2","scheduled_at":"2030-01-01T12:00:00+00:00"}',
    );
    f.pg1.state.switchoverScheduled = true;
    const deleted = await sideBySide(fakes, [...c, 'flush', 'batman', 'switchover'], {
      between: () => {
        f.pg1.state.switchoverScheduled = true;
      },
    });
    expectSame(deleted, 'flush switchover');
    expect(deleted.ours.stdout).toBe('Success: scheduled switchover deleted\n');
    expect(calls(deleted)).toEqual(['pg1 DELETE /switchover ']);

    f.pg1.answer('DELETE /switchover', () => sendError(503));
    const next = await sideBySide(fakes, [...c, 'flush', 'batman', 'switchover']);
    expectSame(next, 'flush switchover, the leader answering 503');
    expect(next.ours.stdout).toMatch(
      /^Failed: member=pg1, status_code=503, \(<!DOCTYPE HTML>[\s\S]*\nFailed: no switchover is scheduled\n$/,
    );
    expect(calls(next).map((s) => s.split(' ')[0])).toEqual(['pg1', 'pg2']);

    // nobody reachable: patronictl dies on its own stale reply variable; we fall back to the DCS
    await writer.set(
      '/service/joker/failover',
      '{"leader":"pg1","member":"pg2","scheduled_at":"2030-01-01T12:00:00+00:00"}',
    );
    const alone = await ctl([...c, 'flush', 'joker', 'switchover']);
    expect(alone.code, alone.stderr).toBe(0);
    expect(alone.stdout).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{5} Could not find any accessible member of cluster joker\n$/,
    );
    expect(alone.stderr.match(/Member pg\d is not accessible/g)).toEqual([
      'Member pg1 is not accessible',
      'Member pg2 is not accessible',
      'Member pg3 is not accessible',
    ]);
    expect(alone.stderr).toMatch(/ - WARNING - Failing over to DCS\n$/);
    const dump = await ctl([...c, 'dump', '/service/joker/failover', '-f', 'json']);
    expect((JSON.parse(dump.stdout) as { value: string }[])[0]?.value).toBe('{}');
  }, 180_000);

  it('version', async () => {
    const [dead] = await freePorts(1);
    const f = await threeFakes('batman');
    f.pg2.state.serverVersion = 90624;
    f.pg3.answer('GET /patroni', () => sendError(503));
    const { c } = await restCluster(procs, [
      {
        scope: 'batman',
        sysid: '7111111111111111111',
        config: { loop_wait: 10 },
        members: withApis(threeMembers(), f),
        leader: 'pg1',
        optime: 1000,
      },
      {
        scope: 'joker',
        sysid: '7111111111111111113',
        members: withApis(threeMembers({ pg2: { api_url: `http://127.0.0.1:${dead}/patroni` } }), {
          pg1: f.pg1,
          pg3: f.pg3,
        }),
        leader: 'pg1',
        optime: 1000,
      },
    ]);
    const fakes = Object.values(f);

    const own = await sideBySide(fakes, [...c, 'version']);
    expectSame(own, 'version');
    expect(own.ours.stdout).toMatch(/^raftdcs ctl version \d+\.\d+\.\d+\S*\n$/);

    const members = await sideBySide(fakes, [...c, 'version', 'batman']);
    expectSame(members, 'version batman');
    expect(members.ours.stdout.split('\n').slice(1)).toEqual([
      '',
      'pg1: Patroni 3.0.2 PostgreSQL 15.3',
      'pg2: Patroni 3.0.2 PostgreSQL 9.6.24',
      'pg3: failed to get version: Expecting value: line 1 column 1 (char 0)',
      '',
    ]);
    expect(calls(members)).toEqual(['pg1 GET /patroni ', 'pg2 GET /patroni ', 'pg3 GET /patroni ']);

    expectSame(await sideBySide(fakes, [...c, 'version', 'batman', 'pg2', 'pgX']), 'version batman pg2');

    const unreachable = await sideBySide(fakes, [...c, 'version', 'joker']);
    expectSame(unreachable, 'version with pg2 unreachable');
    expect(unreachable.ours.stdout).toContain(
      `pg2: failed to get version: HTTPConnectionPool(host='127.0.0.1', port=${dead}): Max retries exceeded with url: /patroni (Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))\n`,
    );
  }, 120_000);

  it('an MPP (Citus) cluster: every group without --group, one with it; pause takes the configured group', async () => {
    const names = ['coord1', 'coord2', 'w1a', 'w1b'] as const;
    const fake: Record<string, FakePatroni> = {};
    for (const n of names)
      fake[n] = await startFakePatroni(n, { role: n === 'coord1' || n === 'w1a' ? 'master' : 'replica' });
    const citus = { database: 'citus' };
    const { c } = await restCluster(
      procs,
      [
        {
          scope: 'batman',
          citus: { group: 0, ...citus },
          sysid: '7000000000000000000',
          config: { loop_wait: 10 },
          members: withApis(
            [
              { name: 'coord1', data: memberData('10.2.0.1', { role: 'master', timeline: 1, lsn: 100 }) },
              { name: 'coord2', data: memberData('10.2.0.2', { timeline: 1, lsn: 100 }) },
            ],
            fake,
          ),
          leader: 'coord1',
          optime: 100,
        },
        {
          scope: 'batman',
          citus: { group: 1, ...citus },
          sysid: '7000000000000000001',
          config: { loop_wait: 10 },
          members: withApis(
            [
              { name: 'w1a', data: memberData('10.2.1.1', { role: 'master', timeline: 2, lsn: 100 }) },
              { name: 'w1b', data: memberData('10.2.1.2', { timeline: 2, lsn: 100 }) },
            ],
            fake,
          ),
          leader: 'w1a',
          optime: 100,
        },
      ],
      'citus:\n  group: 0\n  database: citus\n',
    );
    const fakes = Object.values(fake);
    const who = (r: SideBySide) => r.ourRequests.map((q) => `${q.member} ${q.method} ${q.path}`);

    const restart = await sideBySide(fakes, [...c, 'restart', 'batman', '-r', 'leader', '--force']);
    expectSame(restart, 'restart the leaders of every group');
    expect(who(restart)).toEqual(['coord1 POST /restart', 'w1a POST /restart']);
    expect(restart.ours.stdout).toContain('+ Citus cluster: batman ');

    const one = await sideBySide(fakes, [...c, 'reload', 'batman', '--group', '1', '--force']);
    expectSame(one, 'reload --group 1');
    expect(who(one)).toEqual(['w1a POST /reload', 'w1b POST /reload']);

    const version = await sideBySide(fakes, [...c, 'version', 'batman']);
    expectSame(version, 'version of every group');
    expect(who(version)).toEqual([
      'coord1 GET /patroni',
      'coord2 GET /patroni',
      'w1a GET /patroni',
      'w1b GET /patroni',
    ]);

    const paused = await sideBySide(fakes, [...c, 'pause']);
    expectSame(paused, 'pause (scope and group from the configuration)');
    expect(who(paused)).toEqual(['coord1 PATCH /config']);
  }, 120_000);
});
