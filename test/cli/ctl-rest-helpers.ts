/**
 * What the tests of `raftdcs ctl`'s REST commands share: a Raft cluster with Patroni clusters
 * written into it by Debian Patroni's own Raft DCS (./ctl-helpers.ts) whose members' `api_url`s
 * are fake Patroni REST APIs (./fake-patroni.ts), and a side-by-side run of `/usr/bin/patronictl`
 * and `raftdcs ctl` on the same arguments, stdin, cluster and servers — each run's requests
 * recorded separately — with what legitimately differs normalised away:
 *
 * - the version line (`patronictl version 3.0.2` / `raftdcs ctl version 0.1.0`);
 * - the system id that our member-table titles carry and Debian's 3.0.2 lost;
 * - log-line timestamps, the `(e.g. <now + 1 h>)` of the schedule prompt, patronictl's
 *   `timestamp()` at the start of lines (`%Y-%m-%d %H:%M:%S.%f` cut to five fraction digits);
 * - the member list of the `Which member …` prompt, which patronictl prints in Python's set order;
 * - urllib3's `<urllib3.connection.HTTPConnection object at 0x…>: ` in error texts, the text of a
 *   TLS failure (Python's OpenSSL wording is not node's), where Python's warnings module puts
 *   the InsecureRequestWarning (file, line, source line, link), and the traceback patronictl dies
 *   with where we print `Error: <the same text>`;
 * - the User-Agent header (each names its own program).
 *
 * `dcsWriter` is a read-only Raft node in the test process for what a running Patroni would write
 * while a command waits (pause flags in member keys); it is closed in afterEach.
 */
import { afterEach, expect } from 'vitest';
import type { RaftDcsConfig } from '../../src/dcs/raft-config.js';
import { RaftDcs } from '../../src/dcs/raft-dcs.js';
import type { ProcessScope } from './cli-process.js';
import {
  type ClusterSpec,
  ctl,
  type MemberSpec,
  memberData,
  patronictl,
  type RaftCluster,
  type RunResult,
  seedWithPatroni,
  startRaftCluster,
  withoutSysid,
} from './ctl-helpers.js';
import {
  type FakeOptions,
  type FakePatroni,
  type RecordedRequest,
  startFakePatroni,
} from './fake-patroni.js';

/** pg1 (the leader, Patroni 3.0.2's role `master`), pg2 and pg3, as Patroni writes them. */
export function threeMembers(extra: Readonly<Record<string, Record<string, unknown>>> = {}): MemberSpec[] {
  return [
    {
      name: 'pg1',
      data: { ...memberData('127.0.0.1', { role: 'master', timeline: 2, lsn: 1000 }), ...extra.pg1 },
    },
    { name: 'pg2', data: { ...memberData('127.0.0.2', { timeline: 2, lsn: 1000 }), ...extra.pg2 } },
    { name: 'pg3', data: { ...memberData('127.0.0.3', { timeline: 2, lsn: 900 }), ...extra.pg3 } },
  ];
}

/** Fake REST APIs for pg1 (master), pg2 and pg3. */
export async function threeFakes(
  scope: string,
  o: Omit<FakeOptions, 'scope' | 'role'> = {},
): Promise<Record<'pg1' | 'pg2' | 'pg3', FakePatroni>> {
  return {
    pg1: await startFakePatroni('pg1', { ...o, scope, role: 'master' }),
    pg2: await startFakePatroni('pg2', { ...o, scope }),
    pg3: await startFakePatroni('pg3', { ...o, scope }),
  };
}

/** The member specs with each `api_url` pointing at its fake (members without one keep theirs). */
export function withApis(
  members: readonly MemberSpec[],
  fakes: Readonly<Record<string, FakePatroni>>,
): MemberSpec[] {
  return members.map((m) => {
    const fake = fakes[m.name];
    return fake ? { name: m.name, data: { ...m.data, api_url: fake.apiUrl } } : m;
  });
}

export interface RestCluster {
  readonly raft: RaftCluster;
  readonly c: readonly string[];
}

/** A Raft cluster (patronictl.yaml with `extraYaml`) holding `clusters`, seeded by Patroni. */
export async function restCluster(
  procs: ProcessScope,
  clusters: readonly ClusterSpec[],
  extraYaml = '',
): Promise<RestCluster> {
  const raft = await startRaftCluster(procs, extraYaml);
  await seedWithPatroni(raft, clusters);
  return { raft, c: ['-c', raft.yaml] };
}

const writers: RaftDcs[] = [];
afterEach(async () => {
  await Promise.all(writers.splice(0).map((w) => w.close()));
});

/** A node on the Raft cluster that writes raw keys (closed in afterEach). */
export async function dcsWriter(
  raft: RaftCluster,
): Promise<{ set(key: string, value: unknown, ttl?: number): Promise<void> }> {
  const config: RaftDcsConfig = {
    scope: 'writer',
    name: 'writer',
    partner_addrs: raft.addrs,
    patronictl: true,
  };
  const dcs = await RaftDcs.create(config);
  writers.push(dcs);
  return {
    async set(key, value, ttl) {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      const r = await dcs.kv.set(key, text, ttl === undefined ? {} : { ttl });
      if (r === false) throw new Error(`could not write ${key}`);
    },
  };
}

export interface SideBySide {
  readonly theirs: RunResult;
  readonly ours: RunResult;
  readonly theirRequests: readonly RecordedRequest[];
  readonly ourRequests: readonly RecordedRequest[];
}

const TZ = 'Europe/Berlin';

/** patronictl, then raftdcs ctl, on the same arguments; the fakes' requests of each run. */
export async function sideBySide(
  fakes: readonly FakePatroni[],
  args: readonly string[],
  o: { input?: string; env?: Record<string, string>; between?: () => Promise<void> | void } = {},
): Promise<SideBySide> {
  const env = { TZ, ...o.env };
  const take = () => fakes.flatMap((f) => f.requests.splice(0)).sort((a, b) => a.seq - b.seq);
  take();
  const theirs = await patronictl(args, { input: o.input, env });
  const theirRequests = take();
  await o.between?.();
  const ours = await ctl(args, { input: o.input, env });
  const ourRequests = take();
  return { theirs, ours, theirRequests, ourRequests };
}

/** Text with what legitimately differs between the two programs normalised. */
export function normalise(text: string): string {
  return withoutSysid(text)
    .replace(/^patronictl version 3\.0\.2$/m, '<version>')
    .replace(/^raftdcs ctl version \S+$/m, '<version>')
    .replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - /gm, '<time> - ')
    .replace(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{5} /gm, '<now> ')
    .replace(/\(e\.g\. \d{4}-\d\d-\d\dT\d\d:\d\d\)/g, '(e.g. <next hour>)')
    .replace(/<urllib3\.connection\.HTTPS?Connection object at 0x[0-9a-f]+>: /g, '')
    .replace(/\(Caused by SSLError\(.*\)\)$/gm, '(Caused by SSLError(…))')
    .replace(
      / - WARNING - \/\S+\/connectionpool\.py:\d+: (InsecureRequestWarning: .*?) See: https:\/\/urllib3\S*\n {2}warnings\.warn\(\n\n/g,
      ' - WARNING - $1\n',
    )
    .replace(/by 'SSLError\(.*\)': /g, "by 'SSLError(…)': ")
    .replace(
      /(Which member do you want to \w+ \[)([^\]]*)(\])/g,
      (_m, a: string, names: string, b: string) => `${a}${names.split(', ').sort().join(', ')}${b}`,
    );
}

/** patronictl's stderr with a traceback replaced by the `Error: …` line we print instead. */
export function tracebackAsError(stderr: string): string {
  const at = stderr.indexOf('Traceback (most recent call last):\n');
  if (at < 0) return stderr;
  const lines = stderr.slice(at).trimEnd().split('\n');
  const last = lines[lines.length - 1] ?? '';
  return `${stderr.slice(0, at)}Error: ${last.replace(/^[\w.]+: /, '')}\n`;
}

/** A request as the comparison sees it: method, path, body and the headers that must agree. */
export function shape(r: RecordedRequest): Record<string, unknown> {
  const h = r.headers;
  return {
    member: r.member,
    method: r.method,
    path: r.path,
    body: r.body,
    host: h.host,
    authorization: h.authorization,
    'content-length': h['content-length'],
    'content-type': h['content-type'],
    'accept-encoding': h['accept-encoding'],
    clientCert: r.clientCert,
  };
}

/** Same exit code, same stdout and stderr after normalisation, same requests. */
export function expectSame(r: SideBySide, what: string): void {
  const show = `${what}\n--- patronictl (${r.theirs.code})\n${r.theirs.stdout}\n${r.theirs.stderr}\n--- raftdcs ctl (${r.ours.code})\n${r.ours.stdout}\n${r.ours.stderr}`;
  expect(r.ours.code, show).toBe(r.theirs.code);
  expect(normalise(r.ours.stdout), show).toBe(normalise(r.theirs.stdout));
  expect(normalise(r.ours.stderr), show).toBe(normalise(tracebackAsError(r.theirs.stderr)));
  expect(r.ourRequests.map(shape), show).toEqual(r.theirRequests.map(shape));
  for (const q of r.ourRequests) expect(q.headers['user-agent']).toMatch(/^raftdcs\/\S+ Node\/\S+ \S+$/);
}
