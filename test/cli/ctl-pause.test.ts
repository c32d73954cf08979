/**
 * `raftdcs ctl pause` / `resume` against fake Patroni REST APIs, side by side with Debian's
 * patronictl 3.0.2 (./ctl-rest-helpers.ts): the same output, exit code and `PATCH /config`
 * requests for
 *
 * - pause of a running cluster (leader asked first), resume of a paused one (`{"pause": null}`);
 * - `Cluster is already paused` / `Cluster is not paused` (no request);
 * - the leader answering 503 (`Failed: … status code=503, (<Python's error page>)`, exit 0);
 * - the leader unreachable: two warnings and the next member asked; all unreachable: `Can not
 *   find accessible cluster member`;
 * - `--wait`: the fake writes `pause` into the configuration and the member keys (through a
 *   read-only Raft node in the test process) as Patroni would, and both tools see it applied;
 *   and when no member changes, the same Success after `loop_wait + 1` seconds.
 */
import { expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { describePython } from '../helpers/python.js';
import { useProcesses } from './cli-process.js';
import {
  dcsWriter,
  expectSame,
  restCluster,
  sideBySide,
  threeFakes,
  threeMembers,
  withApis,
} from './ctl-rest-helpers.js';
import { type FakePatroni, sendError } from './fake-patroni.js';

const procs = useProcesses();

describePython('raftdcs ctl pause/resume as patronictl', () => {
  it('pause, resume, already/not paused, 503, unreachable members', async () => {
    const [dead] = await freePorts(1);
    const run = await threeFakes('batman');
    const held = await threeFakes('robin');
    const unreachable = `http://127.0.0.1:${dead}/patroni`;
    const allDead = threeMembers().map((m) => ({ name: m.name, data: { ...m.data, api_url: unreachable } }));
    const { c } = await restCluster(procs, [
      {
        scope: 'batman',
        sysid: '7111111111111111111',
        config: { ttl: 30, loop_wait: 10 },
        members: withApis(threeMembers(), run),
        leader: 'pg1',
        optime: 1000,
      },
      {
        scope: 'robin',
        sysid: '7111111111111111112',
        config: { loop_wait: 10, pause: true },
        members: withApis(threeMembers(), held),
        leader: 'pg1',
        optime: 1000,
      },
      {
        scope: 'joker',
        sysid: '7111111111111111113',
        config: { loop_wait: 10 },
        members: allDead,
        leader: 'pg1',
        optime: 1000,
      },
    ]);
    const all = [...Object.values(run), ...Object.values(held)];

    const paused = await sideBySide(all, [...c, 'pause', 'batman']);
    expectSame(paused, 'pause');
    expect(paused.ours.stdout).toBe('Success: cluster management is paused\n');
    expect(paused.ourRequests.map((r) => `${r.member} ${r.method} ${r.path} ${r.body}`)).toEqual([
      'pg1 PATCH /config {"pause": true}',
    ]);

    const resumed = await sideBySide(all, [...c, 'resume', 'robin']);
    expectSame(resumed, 'resume');
    expect(resumed.ours.stdout).toBe('Success: cluster management is resumed\n');
    expect(resumed.ourRequests.map((r) => r.body)).toEqual(['{"pause": null}']);

    for (const [cmd, scope, message] of [
      ['pause', 'robin', 'Error: Cluster is already paused'],
      ['resume', 'batman', 'Error: Cluster is not paused'],
    ] as const) {
      const r = await sideBySide(all, [...c, cmd, scope]);
      expectSame(r, `${cmd} ${scope}`);
      expect(r.ours.code).toBe(1);
      expect(r.ours.stderr).toBe(`${message}\n`);
      expect(r.ourRequests).toEqual([]);
    }

    run.pg1?.answer('PATCH /config', () => sendError(503));
    const failed = await sideBySide(all, [...c, 'pause', 'batman']);
    expectSame(failed, 'pause with the leader answering 503');
    expect(failed.ours.code).toBe(0);
    expect(failed.ours.stdout).toMatch(
      /^Failed: pause cluster management status code=503, \(<!DOCTYPE HTML>\n/,
    );

    // the leader's API is gone: the next member is asked
    await run.pg1?.close();
    const next = await sideBySide(all, [...c, 'pause', 'batman']);
    expectSame(next, 'pause with the leader unreachable');
    expect(next.ours.stderr).toMatch(
      / - WARNING - HTTPConnectionPool\(host='127\.0\.0\.1', port=\d+\): Max retries exceeded with url: \/config \(Caused by NewConnectionError\('Failed to establish a new connection: \[Errno 111\] Connection refused'\)\)\n.* - WARNING - Member pg1 is not accessible\n$/,
    );
    expect(next.ourRequests.map((r) => r.member)).toEqual(['pg2']);

    const none = await sideBySide(all, [...c, 'pause', 'joker']);
    expectSame(none, 'pause with no member reachable');
    expect(none.ours.code).toBe(1);
    expect(none.ours.stderr).toMatch(/Error: Can not find accessible cluster member\n$/);
  }, 120_000);

  it('--wait: members report the pause; one that changed without it is named; no change is Success', async () => {
    const fake = await threeFakes('alfred');
    const specs = withApis(threeMembers(), fake);
    const { raft, c } = await restCluster(procs, [
      {
        scope: 'alfred',
        sysid: '7111111111111111114',
        config: { loop_wait: 2 },
        members: specs,
        leader: 'pg1',
        optime: 1000,
      },
    ]);
    const writer = await dcsWriter(raft);
    const key = (k: string) => `/service/alfred/${k}`;
    // what Patroni does on PATCH /config and in its next HA loops; `who` says who reports the pause
    const write = async (paused: boolean, who: readonly string[]) => {
      await writer.set(key('config'), paused ? { loop_wait: 2, pause: true } : { loop_wait: 2 });
      for (const m of specs) {
        const data = who.includes(m.name) ? { ...m.data, pause: true } : m.data;
        await writer.set(key(`members/${m.name}`), data, 600);
      }
    };
    const leader = fake.pg1 as FakePatroni;
    const everybody = ['pg1', 'pg2', 'pg3'];

    leader.onConfigPatch = () => write(true, everybody);
    const applied = await sideBySide(Object.values(fake), [...c, 'pause', 'alfred', '--wait'], {
      between: () => write(false, []),
    });
    expectSame(applied, 'pause --wait, applied by all');
    expect(applied.ours.stdout).toBe(
      "'pause' request sent, waiting until it is recognized by all nodes\nSuccess: cluster management is paused\n",
    );
    await write(false, []);

    leader.onConfigPatch = () => write(true, ['pg1', 'pg3']);
    const partial = await sideBySide(Object.values(fake), [...c, 'pause', 'alfred', '--wait'], {
      between: () => write(false, []),
    });
    expectSame(partial, 'pause --wait, pg2 does not report it');
    expect(partial.ours.stdout).toBe(
      "'pause' request sent, waiting until it is recognized by all nodes\npg2 members didn't recognized pause state after 2 seconds\n",
    );
    expect(partial.ours.ms).toBeGreaterThan(2500);
    await write(false, []);

    // nobody writes anything: patronictl reports Success once loop_wait + 1 seconds have passed
    leader.onConfigPatch = null;
    const silent = await sideBySide(Object.values(fake), [...c, 'pause', 'alfred', '--wait']);
    expectSame(silent, 'pause --wait, no member changes');
    expect(silent.ours.stdout).toMatch(/Success: cluster management is paused\n$/);
    expect(silent.ours.ms).toBeGreaterThan(2500);
  }, 120_000);
});
