/**
 * Cases H01–H18 (cluster from raw keys) and the path / loader parts of I01–I04, I06, I07 (legend:
 * docs/dcs.md §12.8, §12.9; behaviour: §6, §7), driven from a synthetic ordered KV map. Where
 * 3.0.2 and 4.x differ, 4.x is asserted.
 */
import { describe, expect, it } from 'vitest';
import {
  buildCluster,
  buildMppClusters,
  Cluster,
  ClusterParseError,
  ClusterParseErrorCode,
  entriesUnder,
  type JsonObject,
  Leader,
  Member,
  parsePyJson,
  SyncState,
} from '../../src/dcs/model/index.js';
import { DcsPaths, validateMppConfig } from '../../src/dcs/paths.js';
import { BATMAN, clusterOf, FakeKv, kvWith } from './model-fixture.js';

/** A cluster with one relative key set to `value`, and that key's index. */
function withKey(key: string, value: string): { cluster: Cluster; index: number } {
  const kv = kvWith([[key, value]]);
  return { cluster: clusterOf(kv), index: kv.index(BATMAN + key) };
}

describe('H. Cluster from raw keys', () => {
  it('H01 a full cluster: every field parsed, helpers answer like Patroni', () => {
    const kv = kvWith([
      ['initialize', '6925464587012345678'],
      ['config', '{"ttl":30,"loop_wait":10}'],
      ['leader', 'pg1'],
      [
        'members/pg1',
        '{"conn_url":"postgres://10.0.0.1:5432/postgres","api_url":"http://10.0.0.1:8008/patroni","state":"running","role":"primary","version":"4.0.4","xlog_location":50331744,"timeline":2}',
      ],
      ['members/pg2', '{"state":"running","role":"replica","version":"3.0.2"}'],
      ['status', '{"optime":50331744,"slots":{"pg2":50331744},"retain_slots":["pg2"]}'],
      ['sync', '{"leader":"pg1","quorum":1,"sync_standby":"pg2"}'],
      ['history', '[[1,25165984,"no recovery target specified","2024-01-01T10:00:00+00:00","pg1"]]'],
      ['failover', '{}'],
      ['failsafe', '{"pg1":"http://10.0.0.1:8008/patroni"}'],
    ]);
    const c = clusterOf(kv);

    expect(c.initialize).toBe('6925464587012345678');

    expect(c.config).not.toBeNull();
    expect(c.config?.data).toEqual({ ttl: 30, loop_wait: 10 });
    expect(c.config?.version).toBe(kv.index(`${BATMAN}config`));
    expect(c.config?.modifyVersion).toBe(kv.index(`${BATMAN}config`));

    expect(c.leader).toBeInstanceOf(Leader);
    expect(c.leader?.name).toBe('pg1');
    expect(c.leader?.version).toBe(kv.index(`${BATMAN}leader`));
    expect(c.leader?.member).toBe(c.members[0]);
    expect(c.leader?.member.version).toBe(kv.index(`${BATMAN}members/pg1`));
    expect(c.leader?.member.apiUrl).toBe('http://10.0.0.1:8008/patroni');
    expect(c.leader?.session).toBeNull();

    expect(c.members.map((m) => m.name)).toEqual(['pg1', 'pg2']);
    expect(c.members[1]?.version).toBe(kv.index(`${BATMAN}members/pg2`));
    expect(c.members[0]?.lsn).toBe(50331744n);
    expect(c.members[0]?.state).toBe('running');
    expect(c.members[0]?.connUrl).toBe('postgres://10.0.0.1:5432/postgres');

    expect(c.status.lastLsn).toBe(50331744n);
    expect(c.status.slots).toEqual({ pg2: 50331744 });
    expect(c.status.retainSlots).toEqual(['pg2']);
    expect(c.slots).toEqual({ pg2: 50331744n });

    expect(c.sync.version).toBe(kv.index(`${BATMAN}sync`));
    expect(c.sync.leader).toBe('pg1');
    expect(c.sync.syncStandby).toBe('pg2');
    expect(c.sync.quorum).toBe(1);
    expect(c.sync.voters).toEqual(['pg2']);
    expect(c.sync.isEmpty).toBe(false);

    expect(c.timeline).toBe(2);

    expect(c.failover).not.toBeNull();
    expect(c.failover?.isTruthy).toBe(false);
    expect(c.failover?.length).toBe(0);
    expect(c.failover?.version).toBe(kv.index(`${BATMAN}failover`));

    expect(c.failsafe).toEqual({ pg1: 'http://10.0.0.1:8008/patroni' });
    expect(c.minVersion).toEqual([3, 0, 2]);
    expect(c.isUnlocked()).toBe(false);
    expect(c.hasMember('pg2')).toBe(true);
    expect(c.hasMember('PG2')).toBe(false);
    expect(c.getMember('pg9')).toBe(c.leader);
    expect(c.getMember('pg9', false)).toBeNull();
    expect(c.getMember('pg2')).toBe(c.members[1]);
    expect(c.isEmpty()).toBe(false);
    expect(c.workers.size).toBe(0);
  });

  it('H02 no key (or only unknown keys) gives an empty cluster', () => {
    for (const kv of [new FakeKv(), kvWith([['foo', 'x']])]) {
      const c = clusterOf(kv);
      expect(c.isEmpty()).toBe(true);
      expect(c.sync.version).toBeNull();
      expect(c.status.lastLsn).toBe(0n);
      expect(c.status.slots).toBeNull();
      expect(c.status.retainSlots).toEqual([]);
      expect(c.status.isEmpty()).toBe(true);
      expect(c.failover).toBeNull();
      expect(c.workers.size).toBe(0);
      expect(c.leader).toBeNull();
      expect(c.members).toEqual([]);
      expect(c.initialize).toBeNull();
      expect(c.config).toBeNull();
      expect(c.history).toBeNull();
      expect(c.failsafe).toBeNull();
    }
    // keys of another scope sharing the prefix text are not under the cluster path
    expect(clusterOf(kvWith([['/service/batman2/leader', 'x']])).isEmpty()).toBe(true);
    expect(Cluster.empty().isEmpty()).toBe(true);
  });

  it('H03 members are members/<x> keys with exactly one slash', () => {
    const c = clusterOf(
      kvWith([
        ['members/pg1', '{}'],
        ['members/pg1/extra', '{}'],
      ]),
    );
    expect(c.members.map((m) => m.name)).toEqual(['pg1']);
    // the key `members/` itself is a member with the empty name
    const e = clusterOf(kvWith([['members/', '{}']]));
    expect(e.members.map((m) => m.name)).toEqual(['']);
  });

  it('H04 a legacy connection-URL member value gives exactly conn_url and api_url', () => {
    const c = clusterOf(
      kvWith([
        [
          'members/pg3',
          'postgres://u:p@10.0.0.3:5432/postgres?application_name=http://10.0.0.3:8008/patroni',
        ],
      ]),
    );
    const m = c.members[0] as Member;
    expect(m.name).toBe('pg3');
    expect({ ...m.data }).toStrictEqual({
      conn_url: 'postgres://u:p@10.0.0.3:5432/postgres',
      api_url: 'http://10.0.0.3:8008/patroni',
    });
    expect(m.apiUrl).toBe('http://10.0.0.3:8008/patroni');
    expect(m.connUrl).toBe('postgres://u:p@10.0.0.3:5432/postgres');
  });

  it('H05 member values that are not a JSON object give empty data and default properties', () => {
    const c = clusterOf(
      kvWith([
        ['members/a', '{'],
        ['members/b', '[1]'],
        ['members/c', '""'],
        ['members/d', 'null'],
        ['members/e', ''],
      ]),
    );
    expect(c.members.map((m) => m.name)).toEqual(['a', 'b', 'c', 'd', 'e']);
    for (const m of c.members) {
      expect(Object.keys(m.data)).toEqual([]);
      expect(m.state).toBe('unknown');
      expect(Object.keys(m.tags)).toEqual([]);
      expect(m.patroniVersion).toBeNull();
      expect(m.lsn).toBeNull();
      expect(m.session).toBeNull();
    }
  });

  it('H06 a leader key naming no member yields a synthetic member with version -1; locked', () => {
    const { cluster: c, index } = withKey('leader', 'pg7');
    expect(c.leader?.name).toBe('pg7');
    expect(c.leader?.version).toBe(index);
    expect(c.leader?.member.version).toBe(-1);
    expect(Object.keys(c.leader?.member.data ?? { x: 1 })).toEqual([]);
    expect(c.leader?.member.name).toBe('pg7');
    expect(c.isUnlocked()).toBe(false);
    // case-sensitive: PG1 does not resolve to member pg1
    const d = clusterOf(
      kvWith([
        ['members/pg1', '{"version":"4.0.0"}'],
        ['leader', 'PG1'],
      ]),
    );
    expect(d.leader?.member.version).toBe(-1);
  });

  it('H07 an empty leader value: leader present, name "", unlocked, cluster not empty', () => {
    const { cluster: c } = withKey('leader', '');
    expect(c.leader).not.toBeNull();
    expect(c.leaderName).toBe('');
    expect(c.isUnlocked()).toBe(true);
    expect(c.isEmpty()).toBe(false);
  });

  it('H08 status is preferred over optime/leader; legacy values parse as JSON integers', () => {
    const both = clusterOf(
      kvWith([
        ['status', '{"optime":100}'],
        ['optime/leader', '200'],
      ]),
    );
    expect(both.status.lastLsn).toBe(100n);
    const legacy: [string, bigint][] = [
      ['12345', 12345n],
      [' 42 ', 42n],
      ['+5', 0n],
      ['0/3000060', 0n],
      ['12.5', 0n],
      ['12.0', 0n],
      ['18446744073709551615', 18446744073709551615n],
    ];
    for (const [value, lsn] of legacy) {
      expect(withKey('optime/leader', value).cluster.status.lastLsn, value).toBe(lsn);
    }
    // a garbage status still wins over the legacy key
    const garbage = clusterOf(
      kvWith([
        ['status', '{'],
        ['optime/leader', '200'],
      ]),
    );
    expect(garbage.status.lastLsn).toBe(0n);
  });

  it('H09 status values → last_lsn, slots, retain_slots', () => {
    const lsn: [string, bigint][] = [
      ['123', 123n],
      ['{"optime":"12"}', 12n],
      ['{"optime":12.7}', 12n],
      ['{"optime":null}', 0n],
      ['[1]', 0n],
      ['{', 0n],
      ['{"optime":" 7 "}', 7n],
      ['{"optime":"-5"}', -5n],
      ['{"optime":"1_000"}', 1000n],
      ['{"optime":"7.0"}', 0n],
      ['{}', 0n],
      ['{"optime":18446744073709551615}', 18446744073709551615n],
    ];
    for (const [value, expected] of lsn) {
      expect(withKey('status', value).cluster.status.lastLsn, value).toBe(expected);
    }
    const s1 = withKey('status', '{"optime":1,"slots":"{\\"a\\":1}","retain_slots":"[\\"x\\"]"}').cluster
      .status;
    expect(s1.slots).toEqual({ a: 1 });
    expect(s1.retainSlots).toEqual(['x']);
    const s2 = withKey('status', '{"optime":1,"slots":[1],"retain_slots":{"a":1}}').cluster.status;
    expect(s2.slots).toBeNull();
    expect(s2.retainSlots).toEqual([]);
    const s3 = withKey('status', '{"optime":1,"slots":"{","retain_slots":"["}').cluster.status;
    expect(s3.slots).toBeNull();
    expect(s3.retainSlots).toEqual([]);
  });

  it('H10 Cluster.slots parses every slot value with parse_int, unparseable → 0', () => {
    const { cluster: c } = withKey(
      'status',
      '{"optime":5,"slots":{"a":"100","b":"x","c":null,"d":"0x10","e":7}}',
    );
    expect(c.slots).toEqual({ a: 100n, b: 0n, c: 0n, d: 16n, e: 7n });
    const big = withKey('status', '{"optime":5,"slots":{"a":18446744073709551615}}').cluster;
    expect(big.slots).toEqual({ a: 18446744073709551615n });
  });

  it('H11 failover values → (leader, candidate, scheduled_at, truthy), version = key index', () => {
    const cases: [string, string | null, string | null, boolean][] = [
      ['{}', null, null, false],
      ['pg1:pg2', 'pg1', 'pg2', true],
      ['pg1', 'pg1', null, true],
      [':pg2', '', 'pg2', true],
      ['null', null, null, false],
      ['[]', null, null, false],
      [' pg1 : pg2 ', 'pg1', 'pg2', true],
      [' ', '', null, false],
      ['', null, null, false],
      ['"x"', null, null, false],
      ['5', null, null, false],
    ];
    for (const [value, leader, candidate, truthy] of cases) {
      const { cluster: c, index } = withKey('failover', value);
      const f = c.failover;
      expect(f, value).not.toBeNull();
      expect(f?.leader, value).toBe(leader);
      expect(f?.candidate, value).toBe(candidate);
      expect(f?.scheduledAt, value).toBeNull();
      expect(f?.isTruthy, value).toBe(truthy);
      expect(f?.version, value).toBe(index);
    }
    // 4.x: the legacy form with both parts empty still gives an object
    expect(withKey('failover', ':').cluster.failover).not.toBeNull();

    const { cluster: s, index } = withKey(
      'failover',
      '{"leader":"pg1","member":"pg2","scheduled_at":"2024-05-01T12:00:00+00:00"}',
    );
    expect(s.failover?.leader).toBe('pg1');
    expect(s.failover?.candidate).toBe('pg2');
    expect(s.failover?.isTruthy).toBe(true);
    expect(s.failover?.version).toBe(index);
    expect(s.failover?.scheduledAt?.isNaive).toBe(false);
    expect(s.failover?.scheduledAt?.toDate()?.toISOString()).toBe('2024-05-01T12:00:00.000Z');
    expect(s.failover?.scheduledAt?.epochSeconds).toBe(Date.UTC(2024, 4, 1, 12) / 1000);

    const empty = withKey('failover', '{"leader":"pg1","scheduled_at":""}');
    expect(empty.cluster.failover?.scheduledAt).toBeNull();
    expect(empty.cluster.failover?.leader).toBe('pg1');
    expect(empty.cluster.failover?.version).toBe(empty.index);

    // a naive date-time stays visibly naive
    const naive = withKey('failover', '{"member":"pg2","scheduled_at":"2024-05-01T12:00:00"}').cluster
      .failover;
    expect(naive?.scheduledAt?.isNaive).toBe(true);
    expect(naive?.scheduledAt?.epochSeconds).toBeNull();
    expect(naive?.scheduledAt?.toDate()).toBeNull();
    // a schedule alone is falsy
    expect(withKey('failover', '{"scheduled_at":"2024-05-01T12:00:00Z"}').cluster.failover?.isTruthy).toBe(
      false,
    );
  });

  it('H12 an unparseable failover scheduled_at fails the load naming the key and the text', () => {
    const kv = kvWith([
      ['leader', 'pg1'],
      ['failover', '{"leader":"pg1","scheduled_at":"next tuesday-ish"}'],
    ]);
    let err: unknown;
    try {
      clusterOf(kv);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ClusterParseError);
    const e = err as ClusterParseError;
    expect(e.code).toBe(ClusterParseErrorCode.BadScheduledAt);
    expect(e.key).toBe('/service/batman/failover');
    expect(e.text).toBe('next tuesday-ish');
    expect(e.message).toContain('failover');
    expect(e.message).toContain('next tuesday-ish');
    // non-string truthy values fail too; falsy ones mean "no schedule"
    expect(() => withKey('failover', '{"leader":"pg1","scheduled_at":5}')).toThrow(ClusterParseError);
    expect(() => withKey('failover', '{"leader":"pg1","scheduled_at":true}')).toThrow(ClusterParseError);
    expect(withKey('failover', '{"leader":"pg1","scheduled_at":0}').cluster.failover?.scheduledAt).toBeNull();
    expect(
      withKey('failover', '{"leader":"pg1","scheduled_at":null}').cluster.failover?.scheduledAt,
    ).toBeNull();
    // (the DCS-level half of H12 — the cluster cache is reset — belongs to the DCS tests)
  });

  it('H13 config values → (data, modify_version)', () => {
    const ok = withKey('config', '{"ttl":20}');
    expect(ok.cluster.config?.data).toEqual({ ttl: 20 });
    expect(ok.cluster.config?.modifyVersion).toBe(ok.index);
    expect(ok.cluster.config?.version).toBe(ok.index);
    for (const bad of ['{', '[]', 'null', '5', '']) {
      const { cluster, index } = withKey('config', bad);
      expect(Object.keys(cluster.config?.data ?? { x: 1 }), bad).toEqual([]);
      expect(cluster.config?.modifyVersion, bad).toBe(0);
      expect(cluster.config?.version, bad).toBe(index);
    }
  });

  it('H14 history values → timeline', () => {
    expect(new FakeKv() && clusterOf(new FakeKv()).timeline).toBe(0);
    const cases: [string, number][] = [
      ['[]', 1],
      ['{}', 0],
      ['[[1,25165984,"x"]]', 2],
      ['[[1,25165984,"x"],[2,50331744,"y","2024-01-01T10:00:00+00:00","pg2"]]', 3],
      ['[["a"]]', 0],
      ['[ ]', 0],
      ['5', 0],
      ['[[2.9,1,"x"]]', 3],
      ['[["3","x"]]', 4],
      ['[["2.5"]]', 0],
      ['[["3", "2", "1"]]', 4],
      ['["42"]', 5], // Python indexes the string: "42"[0] is "4"
      ['[[]]', 0],
      ['[null]', 0],
    ];
    for (const [value, timeline] of cases) {
      expect(withKey('history', value).cluster.timeline, value).toBe(timeline);
    }
    const h = withKey('history', '[[1,18446744073709551615,"x"]]');
    expect(h.cluster.history?.lines).toEqual([[1, 18446744073709551615n, 'x']]);
    expect(h.cluster.history?.version).toBe(h.index);
    expect(h.cluster.history?.value).toBe('[[1,18446744073709551615,"x"]]');
  });

  it('H15 sync values → (version, leader, sync_standby, quorum, is_empty)', () => {
    const absent = clusterOf(new FakeKv()).sync;
    expect([absent.version, absent.leader, absent.syncStandby, absent.quorum, absent.isEmpty]).toEqual([
      null,
      null,
      null,
      0,
      true,
    ]);
    type Row = [string, string | null, string | null, number, boolean];
    const rows: Row[] = [
      ['', null, null, 0, true],
      ['[]', null, null, 0, true],
      ['{', null, null, 0, true],
      ['{"leader":"pg1","sync_standby":"pg2,pg3","quorum":"2"}', 'pg1', 'pg2,pg3', 2, false],
      ['{"leader":"","quorum":2}', '', null, 0, true],
      ['{"leader":"pg1","quorum":1.9}', 'pg1', null, 1, false],
      ['{"leader":"pg1","sync_standby":"pg2"}', 'pg1', 'pg2', 0, false],
      ['{"leader":"pg1","quorum":"x"}', null, null, 0, true],
      ['{"leader":"pg1","quorum":[1]}', null, null, 0, true],
    ];
    for (const [value, leader, standby, quorum, isEmpty] of rows) {
      const { cluster, index } = withKey('sync', value);
      const s = cluster.sync;
      expect([s.version, s.leader, s.syncStandby, s.quorum, s.isEmpty], value).toEqual([
        index,
        leader,
        standby,
        quorum,
        isEmpty,
      ]);
    }
    const s = withKey('sync', '{"leader":"pg1","sync_standby":"pg2,pg3","quorum":"2"}').cluster.sync;
    expect(s.voters).toEqual(['pg2', 'pg3']);
    expect(s.members).toEqual(['pg1', 'pg2', 'pg3']);
    expect(s.matches('PG3')).toBe(true);
    expect(s.matches('pg1')).toBe(false);
    expect(s.matches('Pg1', true)).toBe(true);
    expect(s.matches(null)).toBe(false);
    expect(s.leaderMatches('PG1')).toBe(true);
    expect(s.leaderMatches('pg2')).toBe(false);
    const sp = withKey('sync', '{"leader":"pg1","sync_standby":" pg2 ,, pg3 "}').cluster.sync;
    expect(sp.voters).toEqual(['pg2', 'pg3']);
    const fromDict = SyncState.fromNode(
      12,
      parsePyJson('{"leader":"pg1","quorum":1,"sync_standby":"pg2,pg3"}') as JsonObject,
    );
    expect([fromDict.version, fromDict.leader, fromDict.syncStandby, fromDict.quorum]).toEqual([
      12,
      'pg1',
      'pg2,pg3',
      1,
    ]);
    const e = withKey('sync', '{"leader":"","sync_standby":"pg2"}').cluster.sync;
    expect(e.voters).toEqual([]);
    expect(e.members).toEqual([]);
    expect(e.matches('pg2')).toBe(false);
    expect(e.leaderMatches('')).toBe(false);
  });

  it('H16 failsafe is the parsed JSON whatever its type; initialize keeps "" apart from absent', () => {
    expect(withKey('failsafe', '{"pg1":"http://a:8008/patroni"}').cluster.failsafe).toEqual({
      pg1: 'http://a:8008/patroni',
    });
    expect(withKey('failsafe', '[1,2]').cluster.failsafe).toEqual([1, 2]);
    expect(withKey('failsafe', '{"foo"}').cluster.failsafe).toBeNull();
    expect(withKey('failsafe', 'null').cluster.failsafe).toBeNull();
    expect(withKey('failsafe', '"x"').cluster.failsafe).toBe('x');
    expect(clusterOf(new FakeKv()).failsafe).toBeNull();

    expect(clusterOf(new FakeKv()).initialize).toBeNull();
    const empty = withKey('initialize', '').cluster;
    expect(empty.initialize).toBe('');
    expect(empty.initialize).not.toBeNull();
    expect(empty.isEmpty()).toBe(false);
    expect(withKey('initialize', '7301234567890123456').cluster.initialize).toBe('7301234567890123456');
  });

  it('H17 min_version is the lowest parseable member version', () => {
    const kv = kvWith([
      ['members/a', '{"version":"3.0.2"}'],
      ['members/b', '{"version":"4.0.1"}'],
      ['members/c', '{"version":"x"}'],
      ['members/d', '{"version":"4.0.0.dev1"}'],
      ['members/e', '{"state":"running"}'],
    ]);
    expect(clusterOf(kv).minVersion).toEqual([3, 0, 2]);
    expect(clusterOf(kvWith([['members/c', '{"version":"x"}']])).minVersion).toBeNull();
    expect(clusterOf(new FakeKv()).minVersion).toBeNull();
    // tuple order: (2, 0, 2) < (2, 1) < (2, 1, 0)
    const t = kvWith([
      ['members/a', '{"version":"2.1.0"}'],
      ['members/b', '{"version":"2.1"}'],
      ['members/c', '{"version":"2.0.2"}'],
    ]);
    expect(clusterOf(t).minVersion).toEqual([2, 0, 2]);
    const u = kvWith([
      ['members/a', '{"version":"2.1.0"}'],
      ['members/b', '{"version":"2.1"}'],
    ]);
    expect(clusterOf(u).minVersion).toEqual([2, 1]);
  });

  it('H18 members come in KV order: updates keep their place, delete + re-create moves to the end', () => {
    const kv = new FakeKv();
    kv.set(`${BATMAN}members/pg3`, '{}');
    kv.set(`${BATMAN}members/pg1`, '{}');
    kv.set(`${BATMAN}members/pg2`, '{}');
    kv.set(`${BATMAN}members/pg3`, '{"state":"running"}');
    kv.delete(`${BATMAN}members/pg1`);
    kv.set(`${BATMAN}members/pg1`, '{}');
    const c = clusterOf(kv);
    expect(c.members.map((m) => m.name)).toEqual(['pg3', 'pg2', 'pg1']);
    expect(c.members[0]?.state).toBe('running');
  });
});

describe('I. MPP / Citus: paths and loaders', () => {
  const keysI02: [string, string][] = [
    ['/service/batman/0/leader', 'c1'],
    ['/service/batman/0/members/c1', '{"role":"primary"}'],
    ['/service/batman/1/leader', 'w1'],
    ['/service/batman/2/members/w2', '{"role":"replica"}'],
    ['/service/batman/01/leader', 'bad01'],
    ['/service/batman/x/leader', 'badx'],
    ['/service/batman/-1/leader', 'badneg'],
    ['/service/batman/leader', 'badtop'],
    ['/service/batman2/0/leader', 'other'],
  ];

  it('I01 paths carry the citus group; coordinator iff group 0; citus without database disables MPP', () => {
    const v1 = validateMppConfig({ group: 1, database: 'citus' });
    expect(v1.enabled).toBe(true);
    const p1 = new DcsPaths({ scope: 'batman', name: 'pg1', mpp: v1.enabled ? v1.config : null });
    expect(p1.leader).toBe('/service/batman/1/leader');
    expect(p1.member).toBe('/service/batman/1/members/pg1');
    expect(p1.status).toBe('/service/batman/1/status');
    expect(p1.cluster).toBe('/service/batman/1/');
    expect(p1.isMppCoordinator).toBe(false);

    const v0 = validateMppConfig({ group: 0, database: 'citus' });
    const p0 = new DcsPaths({ scope: 'batman', name: 'pg1', mpp: v0.enabled ? v0.config : null });
    expect(p0.isMppCoordinator).toBe(true);
    expect(p0.leader).toBe('/service/batman/0/leader');
    expect(p0.mppRoot).toBe('/service/batman/');

    const nodb = validateMppConfig({ group: 1 });
    expect(nodb.enabled).toBe(false);
    const pn = new DcsPaths({ scope: 'batman', name: 'pg1', mpp: nodb.enabled ? nodb.config : null });
    expect(pn.leader).toBe('/service/batman/leader');
    expect(pn.isMppCoordinator).toBe(false);

    // 4.x accepts an integer-like string; booleans, floats and junk disable MPP
    expect(validateMppConfig({ group: '1', database: 'citus' })).toEqual({
      enabled: true,
      config: { group: 1, database: 'citus' },
    });
    expect(validateMppConfig({ group: ' 2 ', database: 'citus' })).toEqual({
      enabled: true,
      config: { group: 2, database: 'citus' },
    });
    for (const group of [true, 1.5, 'x', '0x10', '1.0', null, [1]]) {
      expect(validateMppConfig({ group, database: 'citus' }).enabled, String(group)).toBe(false);
    }
    expect(validateMppConfig({ group: 1, database: 5 }).enabled).toBe(false);
    expect(validateMppConfig(null).enabled).toBe(false);
    expect(validateMppConfig([1]).enabled).toBe(false);
  });

  it('I02 the coordinator loads group 0 with the other valid groups as workers; nothing else counts', () => {
    const kv = kvWith(keysI02);
    const c = buildMppClusters(entriesUnder(kv.entries(), '/service/batman/'), {
      keyPrefix: '/service/batman/',
    });
    expect(c.leaderName).toBe('c1');
    expect(c.members.map((m) => m.name)).toEqual(['c1']);
    expect(c.leader?.member).toBe(c.members[0]);
    expect([...c.workers.keys()].sort()).toEqual([1, 2]);
    const w1 = c.workers.get(1) as Cluster;
    const w2 = c.workers.get(2) as Cluster;
    expect(w1.leaderName).toBe('w1');
    expect(w1.members).toEqual([]);
    expect(w1.workers.size).toBe(0);
    expect(w2.members.map((m) => m.name)).toEqual(['w2']);
    expect(w2.leader).toBeNull();
    // nothing else influenced the result: the coordinator has only leader and member
    expect(c.initialize).toBeNull();
    expect(c.config).toBeNull();
    expect(c.failover).toBeNull();
    expect(c.history).toBeNull();
    expect(c.sync.version).toBeNull();
    expect(c.status.isEmpty()).toBe(true);
    const all = [c, w1, w2].flatMap((x) => [x.leaderName, ...x.members.map((m) => m.name)]);
    for (const bad of ['bad01', 'badx', 'badneg', 'badtop', 'other']) expect(all).not.toContain(bad);
  });

  it('I03 a coordinator with only a worker key is empty apart from workers, so not empty', () => {
    const kv = kvWith([['/service/batman/1/leader', 'w1']]);
    const c = buildMppClusters(entriesUnder(kv.entries(), '/service/batman/'));
    expect([...c.workers.keys()]).toEqual([1]);
    expect(c.workers.get(1)?.leaderName).toBe('w1');
    expect(c.leader).toBeNull();
    expect(c.members).toEqual([]);
    expect(c.withWorkers(new Map()).isEmpty()).toBe(true);
    expect(c.isEmpty()).toBe(false);
  });

  it('I04 (loader part) a worker loads only its group; the coordinator cluster loads from group 0', () => {
    const kv = kvWith(keysI02);
    const v = validateMppConfig({ group: 1, database: 'citus' });
    const paths = new DcsPaths({ scope: 'batman', name: 'w1', mpp: v.enabled ? v.config : null });
    const worker = buildCluster(entriesUnder(kv.entries(), paths.cluster), { keyPrefix: paths.cluster });
    expect(worker.leaderName).toBe('w1');
    expect(worker.members).toEqual([]);
    expect(worker.workers.size).toBe(0);
    const coordinator = buildCluster(entriesUnder(kv.entries(), paths.coordinator));
    expect(paths.coordinator).toBe('/service/batman/0/');
    expect(coordinator.leaderName).toBe('c1');
    expect(coordinator.members.map((m) => m.name)).toEqual(['c1']);
  });

  it('I06 a non-MPP cluster ignores group sub-paths', () => {
    const kv = kvWith([
      ['/service/batman/leader', 'pg1'],
      ['/service/batman/1/leader', 'w1'],
      ['/service/batman/1/members/w1', '{}'],
    ]);
    const paths = new DcsPaths({ scope: 'batman', name: 'pg1' });
    const c = buildCluster(entriesUnder(kv.entries(), paths.cluster));
    expect(c.leaderName).toBe('pg1');
    expect(c.members).toEqual([]);
    expect(c.workers.size).toBe(0);
  });

  it('I07 namespaces and scopes give the base path with runs of "/" collapsed', () => {
    for (const namespace of ['service', '/service/', '//service//', '/service', undefined]) {
      const p = new DcsPaths({
        scope: 'batman',
        name: 'pg1',
        ...(namespace === undefined ? {} : { namespace }),
      });
      expect(p.leader, String(namespace)).toBe('/service/batman/leader');
      expect(p.base).toBe('/service/batman');
    }
    expect(new DcsPaths({ namespace: '/pg/', scope: 'batman', name: 'pg1' }).leader).toBe(
      '/pg/batman/leader',
    );
    const ab = new DcsPaths({ scope: 'a/b', name: 'pg1' });
    expect(ab.leader).toBe('/service/a/b/leader');
    expect(ab.cluster).toBe('/service/a/b/');
  });
});

describe('model details beyond the acceptance cases', () => {
  it('paths: every relative key and leading slashes stripped', () => {
    const p = new DcsPaths({ scope: 'batman', name: 'pg1' });
    expect([
      p.initialize,
      p.config,
      p.members,
      p.member,
      p.leader,
      p.failover,
      p.history,
      p.status,
      p.leaderOptime,
      p.sync,
      p.failsafe,
      p.memberOf('pg2'),
      p.client('//leader'),
      p.client(''),
    ]).toEqual([
      '/service/batman/initialize',
      '/service/batman/config',
      '/service/batman/members/',
      '/service/batman/members/pg1',
      '/service/batman/leader',
      '/service/batman/failover',
      '/service/batman/history',
      '/service/batman/status',
      '/service/batman/optime/leader',
      '/service/batman/sync',
      '/service/batman/failsafe',
      '/service/batman/members/pg2',
      '/service/batman/leader',
      '/service/batman/',
    ]);
  });

  it('MPP group names: no sign, no leading zero; a trailing newline is accepted like Python re', () => {
    const kv = kvWith([
      ['/service/batman/1/leader', 'w1'],
      ['/service/batman/1\n/members/w9', '{}'],
      ['/service/batman/+1/leader', 'x'],
      ['/service/batman/1 /leader', 'x'],
      ['/service/batman/00/leader', 'x'],
      ['/service/batman/0', 'x'],
    ]);
    const c = buildMppClusters(entriesUnder(kv.entries(), '/service/batman/'));
    expect([...c.workers.keys()]).toEqual([1]);
    expect(c.workers.get(1)?.members.map((m) => m.name)).toEqual(['w9']);
    expect(c.isEmpty()).toBe(false);
    expect(c.leader).toBeNull();
  });

  it('MPP: a bad scheduled_at in a worker group names that group key', () => {
    const kv = kvWith([['/service/batman/3/failover', '{"member":"x","scheduled_at":"soon"}']]);
    expect(() =>
      buildMppClusters(entriesUnder(kv.entries(), '/service/batman/'), { keyPrefix: '/service/batman/' }),
    ).toThrow(/\/service\/batman\/3\/failover.*soon/);
  });

  it('member properties: roles, tags, versions, LSNs, conn_kwargs', () => {
    const m = Member.fromNode(
      7,
      'pg1',
      '{"role":"master","tags":{"nofailover":true},"version":"3.0.2","xlog_location":"0x10","receive_lsn":18446744073709551615,"replay_lsn":"12.5","state":"streaming"}',
    );
    expect(m.role).toBe('master');
    expect(m.normalizedRole).toBe('primary');
    expect(m.tags).toEqual({ nofailover: true });
    expect(m.patroniVersion).toEqual([3, 0, 2]);
    expect(m.lsn).toBe(16n);
    expect(m.receiveLsn).toBe(18446744073709551615n);
    expect(m.replayLsn).toBe(12n);
    expect(m.isRunning).toBe(false);
    expect(m.connUrl).toBeNull();
    const kw = Member.fromNode(1, 'x', '{"conn_kwargs":{"host":"::1","port":5433}}');
    expect(kw.connUrl).toBe('postgresql://[::1]:5433');
    const kw2 = Member.fromNode(1, 'x', '{"conn_kwargs":{"host":"h"}}');
    expect(kw2.connUrl).toBe('postgresql://h:5432');
    expect(Member.fromNode(1, 'x', '{"version":"4.1"}').patroniVersion).toEqual([4, 1]);
    expect(Member.fromNode(1, 'x', '{"version":" 4 .1_0"}').patroniVersion).toEqual([4, 10]);
    expect(Member.fromNode(1, 'x', '{"version":""}').patroniVersion).toBeNull();
    expect(Member.fromNode(1, 'x', '{"version":4}').patroniVersion).toBeNull();
    expect(Member.fromNode(1, 'x', '{"tags":null}').tags).toEqual({});
  });

  it('leader helpers: checkpoint_after_promote and timeline', () => {
    const mk = (data: string) => new Leader(9, Member.fromNode(8, 'pg1', data));
    expect(mk('{"role":"primary","version":"4.0.0"}').checkpointAfterPromote).toBe(true);
    expect(
      mk('{"role":"master","version":"3.0.2","checkpoint_after_promote":false}').checkpointAfterPromote,
    ).toBe(false);
    expect(mk('{"role":"replica","version":"4.0.0"}').checkpointAfterPromote).toBe(false);
    expect(mk('{"role":"primary","version":"1.5.6"}').checkpointAfterPromote).toBeNull();
    expect(mk('{"role":"primary"}').checkpointAfterPromote).toBeNull();
    expect(mk('{"timeline":3}').timeline).toBe(3);
    expect(mk('{}').timeline).toBeNull();
  });

  it('model objects are immutable', () => {
    const c = clusterOf(kvWith([['members/pg1', '{"tags":{"a":1}}']]));
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.members)).toBe(true);
    expect(Object.isFrozen(c.members[0]?.data)).toBe(true);
    expect(Object.isFrozen(c.members[0]?.tags)).toBe(true);
  });

  it('failover leader/member that are not strings keep Python truthiness', () => {
    const f = withKey('failover', '{"leader":5,"member":0}').cluster.failover;
    expect(f?.leader).toBe('5');
    expect(f?.candidate).toBeNull();
    expect(f?.isTruthy).toBe(true);
  });
});
