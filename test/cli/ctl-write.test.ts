/**
 * `raftdcs ctl` writing to a Patroni cluster on our Raft cluster (three `raftdcs controller`
 * processes, keys written by Debian Patroni 3.0.2's Raft DCS), checked with Debian's patronictl:
 *
 * - `edit-config --set … -p … --force`: patronictl's `show-config` sees the change, and the stored
 *   value is Python's `json.dumps` of the edited dict (what patronictl itself would store);
 *   `Not changed`; a confirmation answered `n` writes nothing;
 * - a concurrent change (made by patronictl from inside `$EDITOR`) makes our stale CAS fail:
 *   `Config modification aborted due to concurrent changes`, exit 1, the other change kept;
 * - `switchover --leader A --candidate B [--scheduled T] --force` and `failover --candidate B
 *   --force` write the same `failover` value as patronictl's DCS fallback writes on a twin cluster
 *   (whose leader's REST API is unreachable), and both tools show the scheduled switchover alike;
 *   interactive prompts answered on stdin; patronictl's validation messages;
 * - `remove` with the confirmation phrases on stdin deletes every key of the cluster, and only
 *   that cluster; a wrong answer deletes nothing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { describePython, runPython } from '../helpers/python.js';
import { useProcesses } from './cli-process.js';
import {
  type ClusterSpec,
  ctl,
  memberData,
  PATRONICTL,
  patronictl,
  type RaftCluster,
  type RunResult,
  seedWithPatroni,
  startRaftCluster,
} from './ctl-helpers.js';

const procs = useProcesses();

function ok(r: RunResult, what: string): string {
  expect(r.code, `${what}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(0);
  return r.stdout;
}

function failed(r: RunResult, what: string, message: string): void {
  expect(r.code, `${what}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(1);
  expect(r.stderr, what).toContain(message);
}

/** A three-member cluster whose REST APIs answer nowhere (so patronictl falls back to the DCS). */
function spec(scope: string, apiPort: number): ClusterSpec {
  return {
    scope,
    sysid: '7111111111111111111',
    config: { ttl: 30, loop_wait: 10, postgresql: { parameters: { max_connections: 100 } }, pause: false },
    members: [
      { name: 'pg1', data: memberData('127.0.0.1', { apiPort, role: 'master', timeline: 2, lsn: 1000 }) },
      { name: 'pg2', data: memberData('127.0.0.2', { apiPort, timeline: 2, lsn: 1000 }) },
      {
        name: 'pg3',
        data: memberData('127.0.0.3', { apiPort, timeline: 2, lsn: 900, tags: { nofailover: true } }),
      },
    ],
    leader: 'pg1',
    optime: 1000,
  };
}

/** The raw value of a key, read by Debian Patroni's own Raft node. */
async function rawValue(raft: RaftCluster, key: string): Promise<string | null> {
  const out = ok(await ctl(['-c', raft.yaml, 'dump', key, '-f', 'json']), `dump ${key}`);
  const rows = JSON.parse(out) as { key: string; value: string }[];
  return rows.find((r) => r.key === key)?.value ?? null;
}

describePython('raftdcs ctl writes what patronictl writes', () => {
  it('edit-config: --set/-p/--force, Not changed, a declined confirmation, a stale CAS', async () => {
    const [apiPort] = await freePorts(1);
    const raft = await startRaftCluster(procs);
    await seedWithPatroni(raft, [spec('batman', apiPort as number)]);
    const c = ['-c', raft.yaml];
    const before = (await rawValue(raft, '/service/batman/config')) as string;

    const change = ['--set', 'ttl=20', '-p', 'max_connections=200', '-s', 'postgresql.parameters.a.b=on'];
    // patronictl shows its diff and is told no; ours shows the same diff and writes
    const theirDiff = ok(
      await patronictl([...c, 'edit-config', ...change], { input: 'n\n' }),
      'patronictl diff',
    );
    expect(theirDiff.endsWith('Apply these changes? [y/N]: ')).toBe(true);
    const edit = ok(await ctl([...c, 'edit-config', ...change, '--force']), 'edit-config --set');
    expect(edit).toBe(`${theirDiff.slice(0, -'Apply these changes? [y/N]: '.length)}Configuration changed\n`);
    expect(edit).toContain('-ttl: 30\n+    a.b: true\n+    max_connections: 200\n+ttl: 20\n');
    const shown = ok(await patronictl([...c, 'show-config']), 'patronictl show-config');
    expect(shown).toContain('ttl: 20\n');
    expect(shown).toContain('    max_connections: 200\n');
    // stored as patronictl stores it: json.dumps (default separators) of the edited dict
    const expected = runPython(
      `import json,sys
d = json.loads(sys.stdin.read())
d['ttl'] = 20
d['postgresql']['parameters']['max_connections'] = 200
d['postgresql']['parameters']['a.b'] = True
sys.stdout.write(json.dumps(d))`,
      before,
    );
    expect(await rawValue(raft, '/service/batman/config')).toBe(expected);

    const same = await ctl([...c, 'edit-config', '--set', 'ttl=20', '--force']);
    expect(ok(same, 'unchanged')).toBe('Not changed\n');
    const declined = await ctl([...c, 'edit-config', '--set', 'ttl=25'], { input: 'n\n' });
    expect(ok(declined, 'declined')).toMatch(/Apply these changes\? \[y\/N\]: $/);
    expect(ok(await patronictl([...c, 'show-config']), 'show-config')).toContain('ttl: 20\n');

    // $EDITOR: patronictl changes loop_wait meanwhile; our write with the old index must fail
    const editor = join(raft.dir, 'editor.sh');
    writeFileSync(
      editor,
      `#!/bin/sh\n${PATRONICTL} -c ${raft.yaml} edit-config --set loop_wait=5 --force >/dev/null 2>&1 || exit 3\nsed -i 's/^ttl: .*/ttl: 21/' "$1"\n`,
      { mode: 0o755 },
    );
    const stale = await ctl([...c, 'edit-config', '--force'], { env: { EDITOR: editor } });
    failed(stale, 'stale CAS', 'Error: Config modification aborted due to concurrent changes');
    expect(stale.stdout).toContain('+ttl: 21');
    const after = ok(await patronictl([...c, 'show-config']), 'show-config after the race');
    expect(after).toContain('loop_wait: 5\n');
    expect(after).toContain('ttl: 20\n');

    // the same edit through $EDITOR without a race goes through
    writeFileSync(editor, `#!/bin/sh\nsed -i 's/^ttl: .*/ttl: 22/' "$1"\n`, { mode: 0o755 });
    ok(await ctl([...c, 'edit-config', '--force'], { env: { EDITOR: editor } }), 'edit-config via $EDITOR');
    expect(ok(await patronictl([...c, 'show-config']), 'show-config')).toContain('ttl: 22\n');
  }, 80_000);

  it('switchover/failover write the failover key exactly as patronictl does; prompts; validations', async () => {
    const [apiPort] = await freePorts(1);
    const raft = await startRaftCluster(procs);
    // batman is ours, robin is patronictl's twin
    await seedWithPatroni(raft, [spec('batman', apiPort as number), spec('robin', apiPort as number)]);
    const c = ['-c', raft.yaml];
    const key = (scope: string) => `/service/${scope}/failover`;

    const ours = ok(
      await ctl([
        ...c,
        'switchover',
        'batman',
        '--leader',
        'pg1',
        '--candidate',
        'pg2',
        '--force',
        '--wait',
        '1',
      ]),
      'ctl switchover',
    );
    ok(
      await patronictl([...c, 'switchover', 'robin', '--leader', 'pg1', '--candidate', 'pg2', '--force']),
      'patronictl switchover',
    );
    expect(await rawValue(raft, key('batman'))).toBe('{"leader":"pg1","member":"pg2"}');
    expect(await rawValue(raft, key('batman'))).toBe(await rawValue(raft, key('robin')));
    expect(ours).toMatch(/^Current cluster topology\n\+ Cluster: batman \(7111111111111111111\)/);
    expect(ours).toContain('No member acted on the switchover within 1 s');

    ok(
      await ctl([...c, 'failover', 'batman', '--candidate', 'pg2', '--force', '--wait', '0']),
      'ctl failover',
    );
    ok(await patronictl([...c, 'failover', 'robin', '--candidate', 'pg2', '--force']), 'patronictl failover');
    expect(await rawValue(raft, key('batman'))).toBe(await rawValue(raft, key('robin')));

    const when = '2030-01-01T12:00+00:00';
    ok(
      await ctl([
        ...c,
        'switchover',
        'batman',
        '--leader',
        'pg1',
        '--candidate',
        'pg2',
        '--scheduled',
        when,
        '--force',
      ]),
      'ctl scheduled',
    );
    ok(
      await patronictl([
        ...c,
        'switchover',
        'robin',
        '--leader',
        'pg1',
        '--candidate',
        'pg2',
        '--scheduled',
        when,
        '--force',
      ]),
      'patronictl scheduled',
    );
    expect(await rawValue(raft, key('batman'))).toBe(
      '{"leader":"pg1","member":"pg2","scheduled_at":"2030-01-01T12:00:00+00:00"}',
    );
    expect(await rawValue(raft, key('batman'))).toBe(await rawValue(raft, key('robin')));
    const [ourList, theirList] = await Promise.all([
      ctl([...c, 'list', 'batman']),
      patronictl([...c, 'list', 'robin']),
    ]);
    const service =
      ' Switchover scheduled at: 2030-01-01T12:00:00+00:00\n                    from: pg1\n                      to: pg2\n';
    expect(ok(ourList, 'list').endsWith(service)).toBe(true);
    expect(ok(theirList, 'list').endsWith(service)).toBe(true);

    // interactive: leader (default), candidate, when, confirmation — patronictl's prompts
    const asked = await ctl([...c, 'switchover', '--wait', '0'], { input: '\npg2\nnow\ny\n' });
    expect(ok(asked, 'interactive')).toContain(
      "Primary [pg1]: Candidate ['pg2'] []: When should the switchover take place (e.g. ",
    );
    expect(asked.stdout).toContain(
      ' )  [now]: Are you sure you want to switchover cluster batman, demoting current leader pg1? [y/N]: ',
    );
    expect(await rawValue(raft, key('batman'))).toBe('{"leader":"pg1","member":"pg2"}');
    failed(
      await ctl([...c, 'switchover', '--candidate', 'pg2'], { input: '\nnow\nn\n' }),
      'declined',
      'Error: Aborting switchover',
    );
    failed(await ctl([...c, 'switchover'], { input: '' }), 'no answer', 'Aborted!');

    // validations, with patronictl's messages (ours and theirs side by side)
    const cases: [string[], string][] = [
      [
        ['switchover', '--leader', 'pg2', '--candidate', 'pg1', '--force'],
        'Member pg2 is not the leader of cluster',
      ],
      [
        ['switchover', '--leader', 'pg1', '--candidate', 'nobody', '--force'],
        'Member nobody does not exist in cluster',
      ],
      [
        ['switchover', '--leader', 'pg1', '--candidate', 'pg3', '--force'],
        'Member pg3 does not exist in cluster',
      ],
      [['failover', '--force'], 'Failover could be performed only to a specific candidate'],
      [['failover', '--candidate', 'pg1', '--force'], 'Failover target and source are the same.'],
      [
        ['switchover', '--candidate', 'pg2', '--scheduled', 'soonish', '--force'],
        'Unable to parse scheduled timestamp (soonish)',
      ],
    ];
    const results = await Promise.all(
      cases.map(async ([args]) =>
        Promise.all([ctl([...c, ...args, 'batman']), patronictl([...c, ...args, 'robin'])]),
      ),
    );
    cases.forEach(([args, message], i) => {
      const [o, t] = results[i] as [RunResult, RunResult];
      failed(o, `ctl ${args.join(' ')}`, `Error: ${message}`);
      failed(t, `patronictl ${args.join(' ')}`, `Error: ${message}`);
    });
  }, 85_000);

  it('remove: the confirmation phrases on stdin; only that cluster goes', async () => {
    const [apiPort] = await freePorts(1);
    const raft = await startRaftCluster(procs);
    await seedWithPatroni(raft, [spec('batman', apiPort as number), spec('robin', apiPort as number)]);
    const c = ['-c', raft.yaml];

    const wrong = await ctl([...c, 'remove', 'batman'], { input: 'batman\nyes i am aware\n' });
    failed(wrong, 'wrong phrase', 'Error: You did not exactly type "Yes I am aware"');
    const wrongLeader = await ctl([...c, 'remove', 'batman'], { input: 'batman\nYes I am aware\npg2\n' });
    failed(wrongLeader, 'wrong leader', 'Error: You did not specify the current leader of the cluster');
    failed(
      await ctl([...c, 'remove', 'batman'], { input: 'robin\n' }),
      'wrong name',
      'Error: Cluster names specified do not match',
    );
    expect(
      ok(await ctl([...c, 'dump', '-f', 'tsv']), 'dump')
        .trimEnd()
        .split('\n').length,
    ).toBeGreaterThan(5);

    const removed = await ctl([...c, 'remove', 'batman', '-f', 'tsv'], {
      input: 'batman\nYes I am aware\npg1\n',
    });
    expect(ok(removed, 'remove')).toContain(
      'Please confirm the cluster name to remove: You are about to remove all information in DCS for batman, please type: "Yes I am aware": This cluster currently is healthy. Please specify the leader name to continue: ',
    );
    expect(removed.stdout).toMatch(/^Cluster\tMember\tHost/);
    expect(ok(await ctl([...c, 'dump', '-f', 'json']), 'dump after')).toBe('[]\n');
    const theirs = ok(await patronictl([...c, 'list', 'batman', '-f', 'json']), 'patronictl list');
    expect(JSON.parse(theirs)).toEqual([]);
    const robin = JSON.parse(
      ok(await patronictl([...c, 'list', 'robin', '-f', 'json']), 'robin'),
    ) as unknown[];
    expect(robin).toHaveLength(3);
  }, 60_000);
});
