/**
 * `raftdcs admin` against Debian's `/usr/bin/syncobj_admin`: the same arguments give the same
 * stdout and exit code — offline cases (bad addresses, no command, refused connection, usage
 * errors), a TypeScript KVStoreTTL node, and a real Python node (`patroni_raft_controller`), with
 * and without a password. `status` values move (uptime), so status is compared by key set, line
 * format and the values that are stable. Our additions: -members, -timeout, --json.
 *
 * `raftdcs admin` runs in-process (runAdmin) except one spawned check of the CLI wiring.
 */

import { writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  formatMembers,
  formatReply,
  parseAdminArgs,
  runAdmin,
  transferUnsupported,
} from '../../src/cli/admin.js';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import { dict, float, tcpNode } from '../../src/wire/value.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { describePython } from '../helpers/python.js';
import { eventually, PATRONI_RAFT_CONTROLLER, SYNCOBJ_ADMIN, useProcesses } from './cli-process.js';

const procs = useProcesses();
const nodes: KVStoreTTL[] = [];
const servers: { server: Server; sockets: Set<Socket> }[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.destroy()));
  for (const { server, sockets } of servers.splice(0)) {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
});

interface Outcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

async function ours(args: readonly string[]): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const code = await runAdmin(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

async function theirs(args: readonly string[]): Promise<Outcome> {
  const p = procs.run(SYNCOBJ_ADMIN, args);
  const st = await p.waitExit(30_000);
  return { code: st.code, stdout: p.stdout(), stderr: p.stderr() };
}

/** `key: value` lines → map, checking the shape on the way. */
function statusLines(out: string): Map<string, string> {
  expect(out.endsWith('\n'), 'ends with a newline').toBe(true);
  const lines = out.slice(0, -1).split('\n');
  const keys = lines.map((l) => {
    const m = /^([A-Za-z0-9_.:[\]-]+): (.*)$/.exec(l);
    expect(m, `a "key: value" line: ${JSON.stringify(l)}`).not.toBeNull();
    return (m as RegExpExecArray)[1] as string;
  });
  expect(keys, 'sorted by key').toEqual([...keys].sort());
  return new Map(lines.map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]));
}

/** Our `-status` output and syncobj_admin's for the same node: same keys, format and stable values. */
async function expectSameStatus(args: readonly string[]): Promise<Map<string, string>> {
  return eventually(
    async () => {
      const [a, b] = await Promise.all([ours(args), theirs(args)]);
      expect(a.code).toBe(0);
      expect(b.code).toBe(0);
      const mine = statusLines(a.stdout);
      const ref = statusLines(b.stdout);
      expect([...mine.keys()]).toEqual([...ref.keys()]);
      for (const [k, v] of ref) {
        if (k === 'uptime') continue;
        if (mine.get(k) !== v) return undefined; // moved between the two calls: ask again
      }
      return mine;
    },
    15_000,
    'the same status from raftdcs admin and syncobj_admin',
  );
}

/** A TCP server that accepts connections and never answers. */
async function silentServer(): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  servers.push({ server, sockets });
  await new Promise<void>((r) => server.listen({ host: '127.0.0.1', port: 0 }, r));
  return `127.0.0.1:${(server.address() as { port: number }).port}`;
}

const FAST = {
  appendEntriesPeriod: 0.05,
  raftMinTimeout: 0.2,
  raftMaxTimeout: 0.4,
  connectionTimeout: 1.5,
  connectionRetryTime: 0.5,
};

async function tsLeader(addr: string, password: string | null = null): Promise<KVStoreTTL> {
  const kv = new KVStoreTTL({ selfAddr: addr, partnerAddrs: [], conf: { ...FAST, password } });
  nodes.push(kv);
  await kv.waitBinded();
  await eventually(() => (kv.isLeader() ? true : undefined), 10_000, `${addr} to lead`);
  return kv;
}

describe('raftdcs admin: arguments and failures exactly as syncobj_admin', () => {
  it('same stdout and exit code 0 for address/command errors, a refused connection, an unresolvable host', async () => {
    const [closed] = await freeLoopbackAddresses(1);
    const cases: string[][] = [
      [],
      ['-status'],
      ['-conn', 'nocolon', '-status'],
      ['-conn', '127.0.0.1:0', '-status'],
      ['-conn', closed as string],
      ['-conn', closed as string, '-status'],
      ['-con', closed as string, '-stat'],
      [`-conn=${closed}`, '-status'],
      ['-conn', closed as string, '-add', 'foo'],
      ['-conn', closed as string, '-remove', 'host:99999'],
      ['-conn', closed as string, '-add', '', '-remove', 'x:1'],
      ['-conn', closed as string, '-set_version', '-1'],
      ['-conn', ':5', '-status'],
      ['-conn', 'no-such-host.invalid:2222', '-status'],
    ];
    const results = await Promise.all(
      cases.map(async (args) => [args, await ours(args), await theirs(args)] as const),
    );
    for (const [args, a, b] of results) {
      expect({ args, code: a.code, stdout: a.stdout }).toEqual({ args, code: b.code, stdout: b.stdout });
    }
  });

  it('usage errors: exit 2, usage and the same argparse message on stderr', async () => {
    const cases = [
      ['-bogus'],
      ['-conn', 'a:1', '-add'],
      ['-conn', 'a:1', '-set_version', 'x'],
      ['-conn', 'a:1', '-status=1'],
      ['-conn', 'a:1', 'extra', '-status'],
      ['-conn', 'a:1', '-s'],
    ];
    const results = await Promise.all(
      cases.map(async (args) => [args, await ours(args), await theirs(args)] as const),
    );
    for (const [args, a, b] of results) {
      expect({ args, code: a.code, stdout: a.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(b.code).toBe(2);
      const message = (s: string) =>
        s
          .trim()
          .split('\n')
          .pop()
          ?.replace(/^.*?: error: /, '');
      expect(message(a.stderr), args.join(' ')).toBe(message(b.stderr));
      expect(a.stderr).toMatch(/^usage: raftdcs admin /);
    }
    const help = await ours(['-h']);
    expect(help.code).toBe(0);
    for (const flag of [
      '-conn CONNECTION',
      '-pass PASSWORD',
      '-status',
      '-add ADD',
      '-remove REMOVE',
      '-set_version VERSION',
      '-members',
      '-snapshot FILE',
      '-compact',
      '-transfer TRANSFER',
      '-timeout SECONDS',
      '--json',
    ]) {
      expect(help.stdout).toContain(flag);
    }
  });

  it('parsing: last value wins, abbreviations, -timeout; rendering as Python str()', () => {
    const a = parseAdminArgs(['-conn', 'a:1', '-conn', 'b:2', '-pa', 'pw', '-time', '2.5', '-st', '--js']);
    expect(a).toMatchObject({
      connection: 'b:2',
      password: 'pw',
      timeoutSeconds: 2.5,
      status: true,
      json: true,
    });
    expect(parseAdminArgs(['-set_version', ' +1_0 ']).version).toBe(10n);
    // our flags never take an abbreviation from syncobj_admin's: -c is -conn, -s stays ambiguous
    expect(parseAdminArgs(['-c', 'a:1', '-co', 'b:2'])).toMatchObject({ connection: 'b:2', compact: false });
    expect(parseAdminArgs(['-sn', 'f.snapshot', '-com'])).toMatchObject({
      snapshot: 'f.snapshot',
      compact: true,
    });
    expect(() => parseAdminArgs(['-s'])).toThrow('ambiguous option: -s could match -status, -set_version');
    expect(() => parseAdminArgs(['-timeout', '0'])).toThrow(/invalid positive number/);
    const reply = dict([
      ['version', '0.3.11'],
      ['self', tcpNode('127.0.0.1:1')],
      ['leader', null],
      ['has_quorum', false],
      ['a_float', float(2)],
      ['partner_node_status_server_127.0.0.1:2', 2],
    ]);
    expect(formatReply(reply)).toBe(
      'a_float: 2.0\nhas_quorum: False\nleader: None\npartner_node_status_server_127.0.0.1:2: 2\nself: 127.0.0.1:1\nversion: 0.3.11',
    );
    expect(formatReply('SUCCESS ADD a:1')).toBe('SUCCESS ADD a:1');
    expect(formatReply([dict([['addr', 'a:1']])])).toBe("[{'addr': 'a:1'}]");
    expect(
      formatMembers([
        dict([
          ['addr', '127.0.0.1:7102'],
          ['leader', false],
          ['status', 0],
        ]),
        dict([
          ['addr', '127.0.0.1:7101'],
          ['leader', true],
          ['status', 2],
        ]),
      ]),
    ).toBe(
      'ADDR            LEADER  STATUS\n127.0.0.1:7102  no      disconnected\n127.0.0.1:7101  yes     connected     (answering node)',
    );
    expect(formatMembers('an error string')).toBeNull();
  });

  it('-transfer: its address checked like -add; sent only to a node whose `status raftdcs` lists it', async () => {
    expect(parseAdminArgs(['-conn', 'a:1', '-tr', 'b:2']).transfer).toBe('b:2');
    expect(await ours(['-conn', 'a:1', '-transfer', 'nope'])).toEqual({
      code: 0,
      stdout: 'invalid address to command transfer\n',
      stderr: '',
    });
    const plain = dict([['version', '0.3.11']]);
    expect(transferUnsupported('p:1', plain)).toMatch(
      /^p:1 is not a raftdcs node that can transfer leadership/,
    );
    expect(transferUnsupported('p:1', 'unknown command')).not.toBeNull();
    // a raftdcs node whose feature probe lists only the backup commands (before transfers)
    expect(transferUnsupported('r:1', dict([['raftdcs_features', ['snapshot', 'compact']]]))).toBe(
      'r:1 runs a raftdcs version that cannot transfer leadership',
    );
    expect(transferUnsupported('r:1', dict([['raftdcs_features', ['snapshot', 'transfer']]]))).toBeNull();
  });

  it('-timeout bounds the wait on a node that never answers; --json reports failures with exit 1', async () => {
    const silent = await silentServer();
    const t0 = Date.now();
    const r = await ours(['-conn', silent, '-status', '-timeout', '0.5']);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(r).toMatchObject({ code: 0, stdout: 'connection lost\n' });
    const j = await ours(['-conn', silent, '-status', '-timeout', '0.3', '--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({
      node: silent,
      command: ['status'],
      ok: false,
      error: 'connection lost',
    });
    const t1 = Date.now();
    const transfer = await ours(['-conn', silent, '-transfer', '127.0.0.1:1', '-timeout', '0.5']);
    expect(Date.now() - t1).toBeLessThan(5_000);
    expect(transfer).toMatchObject({ code: 0, stdout: 'connection lost\n' });
    const bad = await ours(['-status', '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toEqual({ node: null, ok: false, error: 'invalid address to connect' });
  });
});

describe('raftdcs admin against a TypeScript node', () => {
  it('-status as syncobj_admin; -members table and --json; -remove self; -set_version', async () => {
    const [a] = await freeLoopbackAddresses(1);
    await tsLeader(a as string);
    const st = await expectSameStatus(['-conn', a as string, '-status']);
    expect(st.get('self')).toBe(a);
    expect(st.get('state')).toBe('2');
    expect(st.get('has_quorum')).toBe('True');

    const m = await ours(['-conn', a as string, '-members']);
    expect(m).toEqual({
      code: 0,
      stdout: `ADDR${' '.repeat((a as string).length - 2)}LEADER  STATUS\n${a}  yes     connected  (answering node)\n`,
      stderr: '',
    });
    const mj = await ours(['-conn', a as string, '-members', '--json']);
    expect(mj.code).toBe(0);
    expect(JSON.parse(mj.stdout)).toEqual({
      node: a,
      command: ['members'],
      ok: true,
      reply: [{ addr: a, leader: true, status: 2 }],
    });
    const sj = await ours(['-conn', a as string, '-status', '--json']);
    expect(JSON.parse(sj.stdout)).toMatchObject({
      ok: true,
      reply: { self: a, leader: a, state: 2, has_quorum: true },
    });

    for (const args of [
      ['-conn', a as string, '-remove', a as string],
      ['-conn', a as string, '-set_version', '0'],
      ['-conn', a as string, '-set_version', '7'],
    ]) {
      const [x, y] = await Promise.all([ours(args), theirs(args)]);
      expect({ args, out: x.stdout, code: x.code }).toEqual({ args, out: y.stdout, code: y.code });
    }
    expect((await ours(['-conn', a as string, '-remove', a as string])).stdout).toBe(`FAIL REMOVE ${a}\n`);
    // -transfer: the node names itself in `status raftdcs`, then refuses its own address
    expect((await ours(['-conn', a as string, '-transfer', a as string])).stdout).toBe(
      `FAIL TRANSFER ${a}: the target ${a} is this node, the leader already\n`,
    );
    // the plain status has no raftdcs keys (it is pysyncobj's, key for key: compared above)
    expect(st.has('raftdcs_features')).toBe(false);
    expect((await ours(['-conn', a as string, '-set_version', '0'])).stdout).toBe('SUCCESS SET_VERSION 0\n');
  });

  it('-add / -remove change the membership (SUCCESS lines as syncobj_admin prints them)', async () => {
    const [a, b] = await freeLoopbackAddresses(2);
    const leader = await tsLeader(a as string);
    // b believes in {a, b} but must not campaign while a has not added it
    const joiner = new KVStoreTTL({
      selfAddr: b as string,
      partnerAddrs: [a as string],
      conf: { ...FAST, raftMinTimeout: 20, raftMaxTimeout: 25, connectionTimeout: 25 },
    });
    nodes.push(joiner);
    await joiner.waitBinded();
    const add = await ours(['-conn', a as string, '-add', b as string]);
    expect(add).toEqual({ code: 0, stdout: `SUCCESS ADD ${b}\n`, stderr: '' });
    expect(leader.otherNodes).toEqual([b]);
    const members = await ours(['-conn', a as string, '-members', '--json']);
    expect(JSON.parse(members.stdout).reply).toEqual([
      { addr: b, leader: false, status: expect.any(Number) },
      { addr: a, leader: true, status: 2 },
    ]);
    const remove = await theirs(['-conn', a as string, '-remove', b as string]);
    expect(remove.stdout).toBe(`SUCCESS REMOVE ${b}\n`);
    expect(leader.otherNodes).toEqual([]);
  });

  it('with a password: -pass works for both tools; a wrong one is "connection lost" for both', async () => {
    const [a] = await freeLoopbackAddresses(1);
    await tsLeader(a as string, 's3cret');
    await expectSameStatus(['-conn', a as string, '-pass', 's3cret', '-status']);
    const wrong = ['-conn', a as string, '-pass', 'wrong', '-status'];
    const [x, y] = await Promise.all([ours([...wrong, '-timeout', '5']), theirs(wrong)]);
    expect(x.stdout).toBe('connection lost\n');
    expect(y.stdout).toBe('connection lost\n');
  });

  it('the spawned CLI: raftdcs admin prints the same and exits as syncobj_admin', async () => {
    const [a] = await freeLoopbackAddresses(1);
    await tsLeader(a as string);
    const p = procs.raftdcs(['admin', '-conn', a as string, '-status']);
    expect((await p.waitExit(20_000)).code).toBe(0);
    const lines = statusLines(p.stdout());
    expect(lines.get('self')).toBe(a);
    const bad = procs.raftdcs(['admin', '-conn', a as string, '-bogus']);
    expect((await bad.waitExit(20_000)).code).toBe(2);
    expect(bad.stderr()).toContain('raftdcs admin: error: unrecognized arguments: -bogus');
    const json = procs.raftdcs(['admin', '-conn', a as string, '-remove', a as string, '--json']);
    expect((await json.waitExit(20_000)).code).toBe(1);
    expect(JSON.parse(json.stdout())).toMatchObject({ ok: false, reply: `FAIL REMOVE ${a}` });
  });
});

describePython('raftdcs admin against a Python node (Debian patroni_raft_controller)', () => {
  async function pythonController(password: string | null): Promise<string> {
    const [a] = await freeLoopbackAddresses(1);
    const dir = procs.dir();
    const config = join(dir, 'patroni.yml');
    writeFileSync(
      config,
      `raft:\n  self_addr: ${a}\n  data_dir: ${dir}\n${password ? `  password: ${password}\n` : ''}`,
    );
    procs.run(PATRONI_RAFT_CONTROLLER, [config], { cwd: dir });
    const pass = password ? ['-pass', password] : [];
    await eventually(
      async () => {
        const r = await ours(['-conn', a as string, ...pass, '-status', '-timeout', '2']);
        return r.stdout.includes('\nstate: 2\n') ? true : undefined;
      },
      30_000,
      `the Python controller at ${a} to lead`,
    );
    return a as string;
  }

  it('-status, -members, -remove self, -set_version: the same output as syncobj_admin', async () => {
    const a = await pythonController(null);
    const st = await expectSameStatus(['-conn', a, '-status']);
    expect(st.get('revision')).toBe('deprecated');
    expect(st.get('self')).toBe(a);
    const m = await ours(['-conn', a, '-members']);
    expect(m.stdout).toBe(
      `ADDR${' '.repeat(a.length - 2)}LEADER  STATUS\n${a}  yes     connected  (answering node)\n`,
    );
    for (const args of [
      ['-conn', a, '-remove', a],
      ['-conn', a, '-set_version', '0'],
      ['-conn', a, '-set_version', '3'],
    ]) {
      const [x, y] = await Promise.all([ours(args), theirs(args)]);
      expect({ args, out: x.stdout, code: x.code }).toEqual({ args, out: y.stdout, code: y.code });
    }
  });

  it('with a password: the same status as syncobj_admin', async () => {
    const a = await pythonController('pyS3cret');
    const st = await expectSameStatus(['-conn', a, '-pass', 'pyS3cret', '-status']);
    expect(st.get('state')).toBe('2');
    const j = await ours(['-conn', a, '-pass', 'pyS3cret', '-members', '--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: true, reply: [{ addr: a, leader: true, status: 2 }] });
  });
});
