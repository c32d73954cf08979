/**
 * `raftdcs controller` as operators run it: spawned processes (`node --import tsx src/cli/main.ts
 * controller …`), real sockets on per-test ports, real files in per-test directories.
 *
 * - configuration errors: exit code 1 and a message naming the key (M04, M05, M01);
 * - a running controller: elected alone, writes from a TypeScript KVStoreTTL client land in it, it
 *   expires TTL keys as leader (M04), SIGTERM → exit 0 with the journal on disk under Patroni's file
 *   name, a restart keeps the data; GET /status and /metrics; SIGHUP reloads the log level only;
 *   configuration from the environment alone; a port that cannot be bound → exit 3 after the
 *   retries;
 * - the drop-in: Debian's patroni_raft_controller runs on a YAML file and stores keys, then ours
 *   starts on the same file and data_dir and serves the same keys.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import { FileJournal } from '../../src/raft/journal/file-journal.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { FileDumpStore } from '../../src/raft/snapshot/dump-store.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import { TcpUtility } from '../../src/raft/transport/utility-client.js';
import { freeLoopbackAddresses, freePorts } from '../helpers/ports.js';
import { PYSYNCOBJ_STATUS_KEYS } from '../helpers/pysyncobj-status.js';
import { describePython } from '../helpers/python.js';
import { waitFor } from '../helpers/wait.js';
import { eventually, PATRONI_RAFT_CONTROLLER, type Proc, useProcesses } from './cli-process.js';

const procs = useProcesses();

const clients: KVStoreTTL[] = [];
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.destroy()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** Election timings that elect a lone node in well under a second (also exercises the knobs). */
const FAST = `  append_entries_period: 0.05
  min_timeout: 0.2
  max_timeout: 0.4
  connection_timeout: 1.5
  connection_retry_time: 0.5
`;

function writeConfig(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function expectConfigFailure(p: Proc, ...texts: string[]): Promise<void> {
  const st = await p.waitExit(20_000);
  expect(st.code, p.stderr()).toBe(1);
  for (const t of texts) expect(p.stderr()).toContain(t);
  expect(p.stdout()).toBe('');
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const r = await fetch(url);
  expect(r.status).toBe(200);
  return (await r.json()) as Record<string, unknown>;
}

/** Poll GET /status until the node says it is the leader. */
async function waitLeader(http: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
  return eventually(
    async () => {
      const st = await getJson(`http://${http}/status`);
      return st.role === 'leader' ? st : undefined;
    },
    timeoutMs,
    `${http} to report role leader`,
  );
}

/** A read-only TypeScript KVStoreTTL (Patroni's patronictl-style client) on the controller. */
async function readOnlyClient(partner: string): Promise<KVStoreTTL> {
  const kv = await KVStoreTTL.open({ selfAddr: null, partnerAddrs: [partner], retryTimeout: 10 });
  clients.push(kv);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    kv.waitReady(),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`client of ${partner} not ready within 15 s`)), 15_000);
    }),
  ]).finally(() => clearTimeout(timer));
  return kv;
}

describe('raftdcs controller: configuration errors (exit 1, the key named)', () => {
  it('M04 without raft.self_addr: exit 1 and a message naming raft.self_addr', async () => {
    const dir = procs.dir();
    const noSelf = writeConfig(dir, 'a.yml', 'raft:\n  data_dir: ./d\n  partner_addrs: ["127.0.0.1:7102"]\n');
    const noRaft = writeConfig(dir, 'b.yml', 'scope: batman\nname: pg1\n');
    await Promise.all([
      expectConfigFailure(procs.raftdcs(['controller', noSelf]), 'raft.self_addr'),
      expectConfigFailure(procs.raftdcs(['controller', '-c', noRaft]), 'raft.self_addr', 'no raft: section'),
    ]);
  });

  it('M04 an empty configuration: "Config is empty." (empty file; nothing at all)', async () => {
    const dir = procs.dir();
    const empty = writeConfig(dir, 'empty.yml', '# nothing here\n');
    await Promise.all([
      expectConfigFailure(procs.raftdcs(['controller', empty]), 'Config is empty.'),
      expectConfigFailure(procs.raftdcs(['controller']), 'Config is empty.'),
      // PATRONI_* variables of other sections only do not make a controller configuration
      expectConfigFailure(procs.raftdcs(['controller'], { env: { PATRONI_SCOPE: 'x' } }), 'raft.self_addr'),
    ]);
  });

  it('M05 data_dir: a regular file, a directory that is not writable', async () => {
    const dir = procs.dir();
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    const notDir = writeConfig(dir, 'f.yml', `raft:\n  self_addr: 127.0.0.1:7101\n  data_dir: ${file}\n`);
    // root ignores permission bits: a directory on a read-only file system then
    const ro = process.getuid?.() === 0 ? '/proc/1' : '/';
    const notWritable = writeConfig(dir, 'w.yml', `raft:\n  self_addr: 127.0.0.1:7101\n  data_dir: ${ro}\n`);
    await Promise.all([
      expectConfigFailure(procs.raftdcs(['controller', notDir]), `raft.data_dir: ${file} is not a directory`),
      expectConfigFailure(procs.raftdcs(['controller', notWritable]), `${ro} the directory is not writable`),
    ]);
  });

  it("M01 bad timeouts: Patroni's message; a non-number names the option; a bad partner entry", async () => {
    const dir = procs.dir();
    const order = writeConfig(
      dir,
      't.yml',
      'raft:\n  self_addr: 127.0.0.1:7101\n  min_timeout: 10.0\n  max_timeout: 5.0\n',
    );
    const nan = writeConfig(dir, 'n.yml', 'raft:\n  self_addr: 127.0.0.1:7101\n  min_timeout: abc\n');
    const partner = writeConfig(
      dir,
      'p.yml',
      'raft:\n  self_addr: 127.0.0.1:7101\n  partner_addrs: [10:20]\n',
    );
    await Promise.all([
      expectConfigFailure(
        procs.raftdcs(['controller', order]),
        'max_timeout (5.0) must be > min_timeout (10.0)',
      ),
      expectConfigFailure(procs.raftdcs(['controller', nan]), 'raft.min_timeout', 'must be a number'),
      expectConfigFailure(procs.raftdcs(['controller', partner]), 'raft.partner_addrs', 'quote them'),
      expectConfigFailure(
        procs.raftdcs(['controller', partner, '--log-level', 'LOUD']),
        '--log-level',
        'unknown log level',
      ),
    ]);
  });

  it('--version prints the version and exits 0', async () => {
    const p = procs.raftdcs(['controller', '--version']);
    expect((await p.waitExit(20_000)).code).toBe(0);
    expect(p.stdout()).toMatch(/^raftdcs controller \d+\.\d+\.\d+\n$/);
  });
});

describe('raftdcs controller: running', () => {
  it('M04 a voter: elected, client writes land, TTL keys expire, SIGTERM → exit 0, restart keeps the data', async () => {
    const [self, http] = await freeLoopbackAddresses(2);
    const dir = procs.dir();
    const dataDir = join(dir, 'raft');
    const config = writeConfig(
      dir,
      'patroni.yml',
      `scope: batman\nname: ctl\nraft:\n  self_addr: ${self}\n  data_dir: ${dataDir}\n${FAST}raftdcs:\n  http: ${http}\n`,
    );
    const ctl = procs.raftdcs(['controller', config]);
    await ctl.waitForLog(
      (l) => l.msg === 'HTTP endpoint listening (GET /status, /health, /readyz, /metrics)',
      20_000,
      'HTTP endpoint',
    );
    expect(ctl.logs().some((l) => String(l.msg).startsWith('Applying custom pysyncobj timeouts: '))).toBe(
      true,
    );
    // M05: a missing data_dir is created
    expect(existsSync(dataDir)).toBe(true);
    await waitLeader(http as string);

    const client = await readOnlyClient(self as string);
    expect(await client.set('/service/batman/config', '{"ttl":30}')).not.toBe(false);
    expect(await client.set('/service/batman/leader', 'pg1', { ttl: 1 })).not.toBe(false);
    const st = await getJson(`http://${http}/status`);
    expect(st.kv_keys).toBe(2);
    // the controller is the leader: it expires the TTL key (the client sees the _expire applied)
    await eventually(
      () => (client.get('/service/batman/leader') === null ? true : undefined),
      10_000,
      'the TTL key to expire',
    );
    expect((await getJson(`http://${http}/status`)).kv_keys).toBe(1);
    await client.destroy();

    ctl.signal('SIGTERM');
    expect(await ctl.waitExit(20_000)).toEqual({ code: 0, signal: null });
    expect(ctl.logs().some((l) => l.msg === 'raft controller stopped' && l.exitCode === 0)).toBe(true);
    // Patroni's file name: <data_dir>/<self_addr>.journal
    expect(existsSync(join(dataDir, `${self}.journal`))).toBe(true);

    const again = procs.raftdcs(['controller', config]);
    await again.waitForLog(
      (l) => l.msg === 'HTTP endpoint listening (GET /status, /health, /readyz, /metrics)',
      20_000,
      'restart',
    );
    await waitLeader(http as string);
    const reader = await readOnlyClient(self as string);
    expect(reader.get('/service/batman/config')?.value).toBe('{"ttl":30}');
    expect(reader.get('/service/batman/leader')).toBeNull();
    again.signal('SIGINT');
    expect((await again.waitExit(20_000)).code).toBe(0);
  });

  it('GET /status (pysyncobj keys, role, members) and GET /metrics (Prometheus)', async () => {
    const [self, http] = await freeLoopbackAddresses(2);
    const dir = procs.dir();
    const ctl = procs.raftdcs([
      'controller',
      writeConfig(dir, 'c.yml', `raft:\n  self_addr: ${self}\n  data_dir: ${dir}\n${FAST}`),
      '--http',
      http as string,
    ]);
    const st = await waitLeader(http as string);
    for (const k of PYSYNCOBJ_STATUS_KEYS) {
      expect(st, `status key ${k}`).toHaveProperty(k);
    }
    expect(st).toMatchObject({
      self,
      leader: self,
      state: 2,
      role: 'leader',
      has_quorum: true,
      version: '0.3.11',
    });
    expect(st.members).toEqual([{ addr: self, leader: true, status: 2, connected: true, self: true }]);

    const client = await readOnlyClient(self as string);
    for (let i = 0; i < 5; i++) expect(await client.set(`/k${i}`, String(i))).not.toBe(false);
    const after = await getJson(`http://${http}/status`);
    expect(after.readonly_nodes_count).toBe(1);
    expect(after.kv_keys).toBe(5);

    const r = await fetch(`http://${http}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/plain');
    const text = await r.text();
    const metric = (name: string) => {
      const m = new RegExp(`^${name.replace(/[{}"=]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
      expect(m, `metric ${name} in\n${text}`).not.toBeNull();
      return Number((m as RegExpExecArray)[1]);
    };
    expect(metric('raftdcs_raft_role{role="leader"}')).toBe(1);
    expect(metric('raftdcs_raft_role{role="follower"}')).toBe(0);
    expect(metric('raftdcs_raft_term')).toBe(after.raft_term);
    expect(metric('raftdcs_raft_commit_index')).toBeGreaterThanOrEqual(after.commit_idx as number);
    expect(metric('raftdcs_raft_applied_index')).toBeGreaterThanOrEqual(after.last_applied as number);
    expect(metric('raftdcs_raft_log_entries')).toBeGreaterThan(0);
    expect(metric('raftdcs_raft_has_quorum')).toBe(1);
    expect(metric('raftdcs_raft_voting_members')).toBe(1);
    expect(metric('raftdcs_raft_connected_peers')).toBe(0);
    expect(metric('raftdcs_raft_readonly_peers')).toBe(1);
    expect(metric('raftdcs_kv_keys')).toBe(5);
    expect(metric('raftdcs_raft_applied_entries_total')).toBeGreaterThanOrEqual(5);
    // every write was fsync'd (the controller's journal runs with fsync always): the histogram saw them
    expect(metric('raftdcs_journal_fsync_seconds_count')).toBeGreaterThanOrEqual(5);
    expect(metric('raftdcs_journal_fsync_seconds_sum')).toBeGreaterThan(0);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect((await fetch(`http://${http}/nope`)).status).toBe(404);
    expect((await fetch(`http://${http}/status`, { method: 'POST' })).status).toBe(405);

    ctl.signal('SIGTERM');
    expect((await ctl.waitExit(20_000)).code).toBe(0);
  });

  it('SIGHUP reloads the log level only (the raft runtime logger follows); --log-level pins it', async () => {
    const [self] = await freeLoopbackAddresses(1);
    const dir = procs.dir();
    const base = `raft:\n  self_addr: ${self}\n  data_dir: ${dir}\n${FAST}`;
    const config = writeConfig(dir, 'c.yml', `log:\n  level: WARNING\n${base}`);
    const ctl = procs.raftdcs(['controller', config]);
    const util = new TcpUtility({ timeoutMs: 5_000 });
    await eventually(() => util.execute(self as string, ['status']), 15_000, 'the node to answer');
    expect(ctl.logs().filter((l) => (l.level as number) < 40)).toEqual([]);

    // a broken raft section would fail a restart, but SIGHUP only takes the log level
    writeFileSync(config, `log:\n  level: DEBUG\n${base}  min_timeout: garbage\n`);
    ctl.signal('SIGHUP');
    await ctl.waitForLog(
      (l) => l.msg === 'SIGHUP: log level changed' && l.to === 'debug',
      10_000,
      'level change',
    );
    await util.execute(self as string, ['status']);
    await ctl.waitForLog(
      (l) => l.component === 'raft' && l.msg === 'utility command' && l.level === 20,
      10_000,
      'a raft debug line',
    );
    ctl.signal('SIGHUP');
    await ctl.waitForLog(
      (l) => String(l.msg).includes('the log level is unchanged'),
      10_000,
      'unchanged level',
    );
    expect(ctl.status).toBeNull();
    ctl.signal('SIGTERM');
    expect((await ctl.waitExit(20_000)).code).toBe(0);

    writeFileSync(config, `log:\n  level: DEBUG\n${base}`);
    const pinned = procs.raftdcs(['controller', config, '--log-level', 'error']);
    await eventually(() => util.execute(self as string, ['status']), 15_000, 'the pinned node to answer');
    pinned.signal('SIGHUP');
    pinned.signal('SIGTERM');
    expect((await pinned.waitExit(20_000)).code).toBe(0);
    expect(pinned.logs().filter((l) => (l.level as number) < 50)).toEqual([]);
  });

  it('configuration from the environment only (PATRONI_RAFT_*), files named as Patroni names them', async () => {
    const [self, partner] = await freeLoopbackAddresses(2);
    const dir = procs.dir();
    const dataDir = join(dir, 'env-data');
    const ctl = procs.raftdcs(['controller'], {
      cwd: dir,
      env: {
        PATRONI_RAFT_SELF_ADDR: self as string,
        PATRONI_RAFT_DATA_DIR: dataDir,
        // a partner that never answers: discovery gives up, the node starts with it as a partner
        PATRONI_RAFT_PARTNER_ADDRS: `'${partner}'`,
        PATRONI_RAFT_MIN_TIMEOUT: '0.5',
        PATRONI_LOG_LEVEL: 'DEBUG',
      },
    });
    const started = await ctl.waitForLog(
      (l) => l.msg === 'starting the raft controller',
      20_000,
      'start line',
    );
    expect(started).toMatchObject({
      selfAddr: self,
      partnerAddrs: [partner],
      journal: join(dataDir, `${self}.journal`),
      dump: join(dataDir, `${self}.dump`),
      config: { kind: 'environment' },
    });
    await ctl.waitForLog((l) => l.msg === 'raft node listening', 30_000, 'listening');
    expect(ctl.logs().some((l) => l.msg === 'Applying custom pysyncobj timeouts: min_timeout=0.5')).toBe(
      true,
    );
    expect(ctl.logs().some((l) => l.level === 20)).toBe(true);
    ctl.signal('SIGTERM');
    expect((await ctl.waitExit(20_000)).code).toBe(0);
    expect(existsSync(join(dataDir, `${self}.journal`))).toBe(true);
  });

  it('a port that cannot be bound: clear error, exit 3 after max_bind_retries (no spin)', async () => {
    const [port] = await freePorts(1);
    const blocker = createServer();
    servers.push(blocker);
    await new Promise<void>((resolve, reject) => {
      blocker.once('error', reject);
      blocker.listen({ host: '0.0.0.0', port }, resolve);
    });
    const dir = procs.dir();
    const config = writeConfig(
      dir,
      'c.yml',
      `raft:\n  self_addr: 127.0.0.1:${port}\n  data_dir: ${dir}\nraftdcs:\n  bind_retry_time: 0.3\n`,
    );
    const t0 = Date.now();
    const ctl = procs.raftdcs(['controller', config, '--max-bind-retries', '3']);
    const st = await ctl.waitExit(30_000);
    const elapsed = Date.now() - t0;
    expect(st.code, ctl.stderr()).toBe(3);
    const attempts = ctl.logs().filter((l) => l.msg === 'cannot bind the listening socket');
    expect(attempts.length).toBe(3);
    expect(elapsed).toBeGreaterThanOrEqual(600); // 3 attempts 0.3 s apart: waited, did not spin
    const fatal = ctl.logs().find((l) => l.msg === 'the raft node could not start');
    expect(fatal).toMatchObject({ selfAddr: `127.0.0.1:${port}`, bindAddr: null, maxBindRetries: 3 });
    expect(String(fatal?.err)).toContain(`cannot listen on 0.0.0.0:${port} after 3 attempt(s)`);
  });
});

describe('raftdcs controller: partial data', () => {
  it('a dump without its journal: exit 3 naming both files and the way out; --unsafe-allow-partial-data starts it once', async () => {
    const [self] = (await freeLoopbackAddresses(1)) as [string];
    const dir = procs.dir();
    const dataDir = join(dir, 'raft');
    const files = journalPaths(dataDir, self, { windows: false });
    // the node's files as a run leaves them (in process, no sockets): keys, then a dump
    mkdirSync(dataDir);
    const net = new MemoryNetwork();
    const journal = new FileJournal(files.journal);
    const kv = new KVStoreTTL({
      selfAddr: self,
      partnerAddrs: [],
      conf: { raftMinTimeout: 0.08, raftMaxTimeout: 0.16, appendEntriesPeriod: 0.02 },
      deps: { transport: net.factory, journal, dumpStore: new FileDumpStore(files.dump) },
    });
    clients.push(kv);
    await waitFor(() => kv.isLeader(), 10_000, 'the in-process node to lead');
    expect(await kv.set('/service/batman/config', '{"ttl":30}')).not.toBe(false);
    kv.forceLogCompaction();
    await waitFor(
      () => existsSync(files.dump) && (journal.snapshot().entries[0]?.index ?? 1) > 1,
      10_000,
      'a dump',
    );
    await kv.destroy();
    // the journal is lost
    rmSync(files.journal);

    const config = writeConfig(
      dir,
      'raft.yml',
      `raft:\n  self_addr: '${self}'\n  data_dir: ${dataDir}\n${FAST}`,
    );
    const refused = procs.raftdcs(['controller', config]);
    expect((await refused.waitExit(20_000)).code, refused.stderr()).toBe(3);
    const fatal = refused.logs().find((l) => l.msg === 'the raft node could not start');
    const err = String(fatal?.err);
    expect(err).toContain('JOURNAL_MISSING');
    expect(err).toContain(files.journal);
    expect(err).toContain(files.dump);
    expect(err).toContain('--unsafe-allow-partial-data');
    expect(existsSync(files.journal)).toBe(false);

    const once = procs.raftdcs(['controller', config, '--unsafe-allow-partial-data']);
    await once.waitForLog((l) => l.msg === 'raft node listening', 20_000, 'the override start');
    expect(once.logs().some((l) => l.code === 'JOURNAL_MISSING' && l.level === 40)).toBe(true);
    const reader = await readOnlyClient(self);
    await eventually(
      () => reader.get('/service/batman/config')?.value,
      10_000,
      'the key from the dump on the reader',
    );
    expect(reader.get('/service/batman/config')?.value).toBe('{"ttl":30}');
    await reader.destroy();
    once.signal('SIGTERM');
    expect((await once.waitExit(20_000)).code).toBe(0);
    expect(existsSync(files.journal)).toBe(true);

    // the journal now belongs with the dump: a plain start
    const plain = procs.raftdcs(['controller', config]);
    await plain.waitForLog((l) => l.msg === 'raft node listening', 20_000, 'the plain restart');
    plain.signal('SIGTERM');
    expect((await plain.waitExit(20_000)).code).toBe(0);
  });
});

describePython('raftdcs controller replacing patroni_raft_controller (same YAML, same data_dir)', () => {
  it('the keys the Python controller stored are served by ours after the switch', async () => {
    const [self] = await freeLoopbackAddresses(1);
    const dir = procs.dir();
    const dataDir = join(dir, 'raft');
    const config = writeConfig(dir, 'raft.yml', `raft:\n  self_addr: '${self}'\n  data_dir: ${dataDir}\n`);
    const py = procs.run(PATRONI_RAFT_CONTROLLER, [config], { cwd: dir });
    const writer = await readOnlyClient(self as string);
    expect(await writer.set('/service/batman/config', '{"ttl":30}')).not.toBe(false);
    expect(await writer.set('/service/batman/members/pg1', '{"role":"primary"}')).not.toBe(false);
    await writer.destroy();
    py.signal('SIGTERM');
    await py.waitExit(20_000);
    expect(existsSync(join(dataDir, `${self}.journal`))).toBe(true);

    const ctl = procs.raftdcs(['controller', config]);
    await ctl.waitForLog((l) => l.msg === 'raft node listening', 20_000, 'our controller listening');
    const reader = await readOnlyClient(self as string);
    // the imported entries commit once our node commits an entry of its own term: poll
    await eventually(
      () => (reader.get('/service/batman/members/pg1') ? true : undefined),
      10_000,
      'the imported keys on the reader',
    );
    expect(reader.get('/service/batman/config')?.value).toBe('{"ttl":30}');
    expect(reader.get('/service/batman/members/pg1')?.value).toBe('{"role":"primary"}');
    ctl.signal('SIGTERM');
    expect((await ctl.waitExit(20_000)).code).toBe(0);
    // the Python journal was imported and kept aside
    expect(existsSync(join(dataDir, `${self}.journal.pysyncobj-backup`))).toBe(true);
  });
});
