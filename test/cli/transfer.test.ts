/**
 * Leadership transfer on real processes (issue 14, item 2, acceptance):
 *
 * - three spawned `raftdcs controller`s with the default timing — heartbeat period
 *   `raft.append_entries_period` = pysyncobj's `appendEntriesPeriod` = 100 ms — hand the
 *   leadership round 20 times in a row (`raftdcs admin -conn <leader> -transfer <member>`, run
 *   in-process, and the `transfer` utility command itself), each within 3 heartbeat periods, while
 *   a Patroni-style client writes throughout; every acknowledged write is then on a fresh reader;
 * - a mixed cluster with Debian's `patroni_raft_controller` (pysyncobj): a Python target is refused
 *   with the documented text; `-transfer` sent to the Python node is not sent on (the node lives
 *   on); a follower names the leader; a transfer between the raftdcs nodes completes with the
 *   Python voter (it reads the `transfer` key of the vote request as pysyncobj reads any dict).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runAdmin } from '../../src/cli/admin.js';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import { TcpUtility } from '../../src/raft/transport/utility-client.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { describePython } from '../helpers/python.js';
import { eventually, PATRONI_RAFT_CONTROLLER, useProcesses } from './cli-process.js';

const procs = useProcesses();
const clients: KVStoreTTL[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.destroy()));
});

/** raft.append_entries_period's default (pysyncobj's appendEntriesPeriod, 0.1 s) */
const HEARTBEAT_MS = 100;

async function admin(args: readonly string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const code = await runAdmin(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: () => undefined },
  });
  return { code, stdout };
}

interface NodeView {
  readonly state: number;
  readonly leader: string | null;
  readonly term: number;
  readonly commit: number;
}

async function view(addr: string): Promise<NodeView> {
  const r = await admin(['-conn', addr, '-status', '-timeout', '2', '--json']);
  const reply = (JSON.parse(r.stdout) as { reply?: Record<string, unknown> }).reply;
  if (reply === undefined) throw new Error(`no status from ${addr}: ${r.stdout}`);
  return {
    state: reply.state as number,
    leader: (reply.leader as string | null) ?? null,
    term: reply.raft_term as number,
    commit: reply.commit_idx as number,
  };
}

/** The leader every node in `addrs` names, once they agree and it says it leads. */
async function agreedLeader(addrs: readonly string[], timeoutMs = 30_000): Promise<string> {
  return eventually(
    async () => {
      const views = await Promise.all(addrs.map(view));
      const leader = views[0]?.leader;
      if (!leader || views.some((v) => v.leader !== leader)) return undefined;
      return views[addrs.indexOf(leader)]?.state === 2 || !addrs.includes(leader) ? leader : undefined;
    },
    timeoutMs,
    `one leader named by all of ${addrs.join(', ')}`,
  );
}

function startController(addr: string, all: readonly string[]): void {
  const dir = procs.dir();
  const config = join(dir, 'patroni.yml');
  const partners = all.filter((a) => a !== addr).map((a) => `'${a}'`);
  writeFileSync(
    config,
    `raft:\n  self_addr: '${addr}'\n  partner_addrs: [${partners.join(', ')}]\n  data_dir: ${join(dir, 'raft')}\n`,
  );
  procs.raftdcs(['controller', config]);
}

/** A Patroni-style client (a read-only node) writing `/w/<i>` = i one after another until stopped. */
function startWriter(kv: KVStoreTTL) {
  const acked: number[] = [];
  let failed = 0;
  let stop = false;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      const r = await kv.set(`/w/${i}`, String(i));
      if (r === false) failed++;
      else acked.push(i);
    }
  })();
  return {
    acked,
    failed: () => failed,
    stop: async () => {
      stop = true;
      await done;
    },
  };
}

async function readOnlyClient(partners: readonly string[], retryPauseMs = 1000): Promise<KVStoreTTL> {
  const kv = await KVStoreTTL.open({
    selfAddr: null,
    partnerAddrs: partners,
    retryTimeout: 30,
    retryPauseMs,
  });
  clients.push(kv);
  await eventually(() => (kv.isReady() ? true : undefined), 20_000, 'the client to be ready');
  return kv;
}

describe('leadership transfer: three raftdcs controllers', () => {
  it('20 transfers in a row, each within 3 heartbeat periods, a writer running throughout: no acknowledged write lost', {
    timeout: 240_000,
  }, async () => {
    const addrs = await freeLoopbackAddresses(3);
    for (const a of addrs) startController(a, addrs);
    let leader = await agreedLeader(addrs);
    // the writer pauses 50 ms between retries (Patroni: 1 s): more writes land around the transfers
    const writer = startWriter(await readOnlyClient(addrs, 50));
    const times: number[] = [];
    let term = (await view(leader)).term;
    for (let n = 0; n < 20; n++) {
      const target = addrs.filter((a) => a !== leader)[n % 2] as string;
      const before = writer.acked.length;
      await eventually(
        () => (writer.acked.length > before ? true : undefined),
        15_000,
        `a write acknowledged before transfer ${n + 1}`,
      );
      const t0 = performance.now();
      // the CLI (status probe + transfer) and the utility command alone, in turn
      const reply =
        n % 2 === 0
          ? (await admin(['-conn', leader, '-transfer', target])).stdout
          : `${await new TcpUtility({ timeoutMs: 30_000 }).execute(leader, ['transfer', target])}\n`;
      const ms = performance.now() - t0;
      expect(reply, `transfer ${n + 1}: ${leader} → ${target}`).toBe(`SUCCESS TRANSFER ${target}\n`);
      times.push(ms);
      const after = await view(target);
      expect(after.state, `transfer ${n + 1}: ${target} leads`).toBe(2);
      // one election per transfer: the target's, at the next term
      expect(after.term, `transfer ${n + 1}: the term`).toBe(term + 1);
      term = after.term;
      leader = target;
    }
    await eventually(
      () => (writer.acked.length > 0 ? true : undefined),
      15_000,
      'a write after the last transfer',
    );
    await writer.stop();

    const commit = (await view(leader)).commit;
    const reader = await readOnlyClient(addrs);
    await eventually(
      () => (reader.raftLastApplied >= commit ? true : undefined),
      20_000,
      `a fresh reader to apply up to ${commit}`,
    );
    const missing = writer.acked.filter((i) => reader.get(`/w/${i}`)?.value !== String(i));
    expect(missing, 'acknowledged writes missing on a fresh reader').toEqual([]);
    expect(writer.acked.length).toBeGreaterThan(20);
    const sorted = [...times].sort((a, b) => a - b);
    console.info(
      `20 transfers (heartbeat ${HEARTBEAT_MS} ms): ${times.map((t) => t.toFixed(0)).join(', ')} ms; ` +
        `median ${sorted[10]?.toFixed(0)} ms, max ${sorted[19]?.toFixed(0)} ms; ` +
        `${writer.acked.length} writes acknowledged, ${writer.failed()} given up by the client`,
    );
    expect(Math.max(...times)).toBeLessThanOrEqual(3 * HEARTBEAT_MS);
  });
});

describePython('leadership transfer: a mixed cluster with a pysyncobj node (patroni_raft_controller)', () => {
  it('a Python target is refused; the Python node is never sent the command; a follower names the leader', {
    timeout: 120_000,
  }, async () => {
    const addrs = await freeLoopbackAddresses(3);
    const [a, b, py] = addrs as [string, string, string];
    // ours first: one of them leads before the Python node starts
    startController(a, addrs);
    startController(b, addrs);
    const leader = await agreedLeader([a, b]);
    const dir = procs.dir();
    const config = join(dir, 'patroni.yml');
    writeFileSync(
      config,
      `raft:\n  self_addr: '${py}'\n  partner_addrs: ['${a}', '${b}']\n  data_dir: ${join(dir, 'raft')}\n`,
    );
    procs.run(PATRONI_RAFT_CONTROLLER, [config], { cwd: dir });
    await eventually(
      async () => ((await view(py)).leader === leader ? true : undefined),
      30_000,
      `the Python node to follow ${leader}`,
    );
    const follower = leader === a ? b : a;

    // the leader refuses the Python target at once
    const t0 = performance.now();
    const refused = await admin(['-conn', leader, '-transfer', py]);
    expect(refused).toEqual({
      code: 0,
      stdout: `FAIL TRANSFER ${py}: the target ${py} is a pysyncobj node (Patroni or patroni_raft_controller), which cannot take over on request\n`,
    });
    expect(performance.now() - t0).toBeLessThan(5_000);
    const json = await admin(['-conn', leader, '-transfer', py, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, command: ['transfer', py] });

    // -transfer against the Python node: asked with `status raftdcs` only, never sent `transfer`
    const notOurs = await admin(['-conn', py, '-transfer', follower, '-timeout', '5']);
    expect(notOurs.stdout).toBe(
      `FAIL TRANSFER ${follower}: ${py} is not a raftdcs node that can transfer leadership (a pysyncobj node: Patroni, patroni_raft_controller, or an older raftdcs); the command was not sent, as a pysyncobj node stops on a command it does not know\n`,
    );
    // a follower says which node leads
    expect((await admin(['-conn', follower, '-transfer', py])).stdout).toBe(
      `FAIL TRANSFER ${py}: this node is not the leader; the leader is ${leader}\n`,
    );

    // between our nodes, with the Python voter: it reads the request's `transfer` key as any key
    expect((await admin(['-conn', leader, '-transfer', follower])).stdout).toBe(
      `SUCCESS TRANSFER ${follower}\n`,
    );
    expect(await agreedLeader([a, b, py])).toBe(follower);
    // the Python node lives on, follows the new leader and applies what it commits
    const kv = await readOnlyClient(addrs);
    expect(await kv.set('/after', 'transfer')).not.toBe(false);
    const commit = (await view(follower)).commit;
    await eventually(
      async () => ((await view(py)).commit >= commit ? true : undefined),
      15_000,
      `the Python node to reach commit ${commit}`,
    );
  });
});
