/**
 * `raftdcs ctl restart` against fake Patroni REST APIs, side by side with Debian's patronictl
 * 3.0.2 (./ctl-rest-helpers.ts): the same member table, prompts, output lines, exit codes and
 * `POST /restart` bodies for
 *
 * - all members with `--force`; one member with `--pending --pg-version --timeout` (503 from the
 *   member: its conditions are not met); `-r leader`, `-r replica`; `--any` (one member at random);
 * - the interactive path (when? now; sure? y; version? none) and the scheduled one (a naive time is
 *   local time; `schedule` sent with its offset; 202, and 409 when one is already scheduled), with
 *   `--force` deleting a member's existing scheduled restart first;
 * - patronictl's errors: `No any among provided members`, a bad `--pg-version`, an unparsable
 *   `--scheduled`, scheduling while paused, a declined confirmation, the end of stdin (`Aborted!`),
 *   a member whose API is unreachable (patronictl's traceback, our `Error:` with its last line).
 */
import { expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { describePython } from '../helpers/python.js';
import { useProcesses } from './cli-process.js';
import {
  expectSame,
  normalise,
  restCluster,
  type SideBySide,
  shape,
  sideBySide,
  threeFakes,
  threeMembers,
  withApis,
} from './ctl-rest-helpers.js';

const procs = useProcesses();

const posts = (r: SideBySide) => r.ourRequests.map((q) => `${q.member} ${q.method} ${q.path} ${q.body}`);

describePython('raftdcs ctl restart as patronictl', () => {
  it('restart: forced, interactive, scheduled, roles, --any, validations, unreachable', async () => {
    const [dead] = await freePorts(1);
    const f = await threeFakes('batman');
    const p = await threeFakes('robin');
    const scheduledRestart = {
      schedule: '2030-01-01T12:00:00+00:00',
      postmaster_start_time: '2024-05-01 12:00:00+00:00',
    };
    const joker = threeMembers({ pg3: { api_url: `http://127.0.0.1:${dead}/patroni` } });
    const { c } = await restCluster(procs, [
      {
        scope: 'batman',
        sysid: '7111111111111111111',
        config: { loop_wait: 10 },
        members: withApis(threeMembers({ pg2: { scheduled_restart: scheduledRestart } }), f),
        leader: 'pg1',
        optime: 1000,
      },
      {
        scope: 'robin',
        sysid: '7111111111111111112',
        config: { loop_wait: 10, pause: true },
        members: withApis(threeMembers(), p),
        leader: 'pg1',
        optime: 1000,
      },
      {
        scope: 'joker',
        sysid: '7111111111111111113',
        config: { loop_wait: 10 },
        members: withApis(joker, { pg1: f.pg1, pg2: f.pg2 }),
        leader: 'pg1',
        optime: 1000,
      },
    ]);
    const fakes = [...Object.values(f), ...Object.values(p)];
    const reset = () => {
      for (const x of fakes) x.state.scheduledRestart = null;
    };

    const all = await sideBySide(fakes, [...c, 'restart', 'batman', '--force']);
    expectSame(all, 'restart --force');
    expect(all.ours.stdout).toMatch(
      /\nSuccess: restart on member pg1\nSuccess: restart on member pg2\nSuccess: restart on member pg3\n$/,
    );
    expect(posts(all)).toEqual(['pg1 POST /restart {}', 'pg2 POST /restart {}', 'pg3 POST /restart {}']);
    // the table is shown first, with pg2's scheduled restart
    expect(all.ours.stdout).toMatch(/^\+ Cluster: batman \(7111111111111111111\) -+\+/);
    expect(all.ours.stdout).toContain('| Scheduled restart ');

    const conditions = await sideBySide(fakes, [
      ...c,
      'restart',
      'batman',
      'pg2',
      '--force',
      '--pending',
      '--pg-version',
      '16.1',
      '--timeout',
      '30',
    ]);
    expectSame(conditions, 'restart with conditions');
    expect(posts(conditions)).toEqual([
      'pg2 POST /restart {"restart_pending": true, "postgres_version": "16.1", "timeout": "30"}',
    ]);
    expect(conditions.ours.stdout).toMatch(
      /\nFailed: restart for member pg2, status code=503, \(restart conditions are not satisfied\)\n$/,
    );

    for (const role of ['leader', 'replica']) {
      const r = await sideBySide(fakes, [...c, 'restart', 'batman', '-r', role, '--force']);
      expectSame(r, `restart -r ${role}`);
    }

    // interactive: when (now), sure (y), version (none)
    const asked = await sideBySide(fakes, [...c, 'restart', 'batman', 'pg2', 'pg3'], { input: '\ny\n\n' });
    expectSame(asked, 'restart, answered on stdin');
    expect(normalise(asked.ours.stdout)).toMatch(
      /\nWhen should the restart take place \(e\.g\. <next hour>\) {2}\[now\]: Are you sure you want to restart members pg2, pg3\? \[y\/N\]: Restart if the PostgreSQL version is less than provided \(e\.g\. 9\.5\.2\) {2}\[\]: Success: restart on member pg2\nSuccess: restart on member pg3\n$/,
    );

    // scheduled, naive time = local time (TZ=Europe/Berlin in both runs)
    const scheduled = await sideBySide(
      fakes,
      [...c, 'restart', 'batman', 'pg3', '--scheduled', '2030-01-01T12:00'],
      { input: 'y\n9.6.24\n', between: reset },
    );
    expectSame(scheduled, 'scheduled restart');
    expect(scheduled.ours.stdout).toContain(
      'Are you sure you want to schedule restart of members pg3 at 2030-01-01 12:00:00+01:00? [y/N]: ',
    );
    expect(posts(scheduled)).toEqual([
      'pg3 POST /restart {"postgres_version": "9.6.24", "schedule": "2030-01-01T12:00:00+01:00"}',
    ]);
    expect(scheduled.ours.stdout).toMatch(/Success: restart scheduled on member pg3\n$/);
    // pg3 keeps it: a second one is refused with 409
    const again = await sideBySide(fakes, [
      ...c,
      'restart',
      'batman',
      'pg3',
      '--scheduled',
      '2030-01-02T12:00+00:00',
      '--force',
    ]);
    expectSame(again, 'a second scheduled restart');
    expect(again.ours.stdout).toMatch(/Failed: another restart is already scheduled on member pg3\n$/);
    reset();

    // --force on pg2, whose member key has a scheduled restart: DELETE first (silent on success)
    f.pg2.state.scheduledRestart = scheduledRestart;
    const replace = await sideBySide(
      fakes,
      [...c, 'restart', 'batman', 'pg2', '--scheduled', '2030-01-01T12:00:00Z', '--force'],
      {
        between: () => {
          f.pg2.state.scheduledRestart = scheduledRestart;
        },
      },
    );
    expectSame(replace, 'forced scheduled restart over an existing one');
    expect(replace.ourRequests.map((q) => `${q.method} ${q.path}`)).toEqual([
      'DELETE /restart',
      'POST /restart',
    ]);
    expect(replace.ours.stdout).toMatch(/\nSuccess: restart scheduled on member pg2\n$/);
    reset();

    // --any: one member, chosen at random by each
    const any = await sideBySide(fakes, [...c, 'restart', 'batman', '--any', '--force']);
    expect(any.ours.code).toBe(0);
    expect(any.ourRequests).toHaveLength(1);
    expect(any.theirRequests).toHaveLength(1);
    const chosen = any.ourRequests[0]?.member as string;
    expect(any.ours.stdout).toMatch(new RegExp(`\\nSuccess: restart on member ${chosen}\\n$`));
    expect(any.ourRequests.map(shape)).toMatchObject([{ method: 'POST', path: '/restart', body: '{}' }]);

    for (const [args, input, message] of [
      [['restart', 'batman', 'pgX', '--force'], '', 'Error: No any among provided members'],
      [
        ['restart', 'batman', 'pg1', '-r', 'replica', '--force'],
        '',
        'Error: No replica among provided members',
      ],
      [
        ['restart', 'batman', '--pg-version', '10', '--force'],
        '',
        'Error: Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: 10',
      ],
      [['restart', 'batman', '--pg-version', 'a.b', '--force'], '', 'Error: Invalid PostgreSQL version: a.b'],
      [
        ['restart', 'batman', '--scheduled', 'tomorrow-ish', '--force'],
        '',
        'Error: Unable to parse scheduled timestamp (tomorrow-ish). It should be in an unambiguous format (e.g. ISO 8601)',
      ],
      [
        ['restart', 'robin', '--scheduled', '2030-01-01T12:00+00:00', '--force'],
        '',
        "Error: Can't schedule restart in the paused state",
      ],
      [['restart', 'batman', 'pg2'], '\nn\n', 'Error: Aborted restart'],
      [
        ['restart', 'batman', 'pg2', '--scheduled', '2030-01-01T12:00+00:00'],
        'no\n',
        'Error: Aborted scheduled restart',
      ],
      [['restart', 'batman', 'pg2'], '', 'Aborted!'],
      [['restart', 'batman', 'pg2'], '\ny\n', 'Aborted!'],
    ] as const) {
      const r = await sideBySide(fakes, [...c, ...args], { input });
      expectSame(r, `${args.join(' ')} <<< ${JSON.stringify(input)}`);
      expect(r.ours.code).toBe(1);
      expect(r.ours.stderr).toBe(`${message}\n`);
      expect(r.ourRequests).toEqual([]);
    }

    // a 500 from the member is reported and the others go on
    f.pg1.answer('POST /restart', () => ({ status: 500, body: 'restart failed' }));
    const failing = await sideBySide(fakes, [...c, 'restart', 'batman', '-r', 'any', '--force']);
    expectSame(failing, 'restart with pg1 failing');
    expect(failing.ours.stdout).toMatch(
      /\nFailed: restart for member pg1, status code=500, \(restart failed\)\nSuccess: restart on member pg2\n/,
    );

    // pg3's API is unreachable: patronictl dies with a traceback after pg1 and pg2, we say why
    const unreachable = await sideBySide(fakes, [...c, 'restart', 'joker', '--force']);
    expectSame(unreachable, 'restart with pg3 unreachable');
    expect(unreachable.ours.code).toBe(1);
    expect(unreachable.theirs.stderr).toContain('Traceback (most recent call last):');
    expect(unreachable.ours.stderr).toMatch(
      new RegExp(
        `^(.* - WARNING - Retrying \\(Retry\\(total=[210], .*\\n){3}Error: HTTPConnectionPool\\(host='127\\.0\\.0\\.1', port=${dead}\\): Max retries exceeded with url: /restart \\(Caused by NewConnectionError\\('Failed to establish a new connection: \\[Errno 111\\] Connection refused'\\)\\)\\n$`,
      ),
    );
    expect(unreachable.ours.stdout).toMatch(/Success: restart on member pg2\n$/);
  }, 240_000);
});
