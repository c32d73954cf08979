/**
 * The node's advisory lock (src/cli/node-lock.ts): taken, seen as held, released; a lock of a dead
 * process or of a pid now used by another program is stale and taken over; a lock of a live
 * process refuses; a lock from another host refuses recover but not the controller. And the
 * controller itself: a second controller on the same files exits 3 naming the lock, and a clean
 * stop removes it.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireNodeLock, inspectNodeLock, NodeLockError } from '../../src/cli/node-lock.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { useProcesses } from './cli-process.js';

const procs = useProcesses();

function lockText(o: Record<string, unknown>): string {
  return `${JSON.stringify({ host: hostname(), since: '2025-01-01T00:00:00.000Z', selfAddr: 'h:1', program: 'controller', ...o })}\n`;
}

/** The pid of a process that has exited (it is not reused within the test). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  return child.pid as number;
}

function procStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

describe('the advisory lock', () => {
  it('taken, held, released; the release leaves another owner’s lock alone', async () => {
    const path = join(procs.dir(), 'n.lock');
    expect(await inspectNodeLock(path)).toEqual({ kind: 'free' });
    const lock = await acquireNodeLock(path, {
      selfAddr: 'h:1',
      program: 'controller',
      takeOverForeign: true,
    });
    expect(lock.replaced).toBeNull();
    const held = await inspectNodeLock(path);
    expect(held).toMatchObject({ kind: 'held', owner: { pid: process.pid, selfAddr: 'h:1' } });
    await expect(
      acquireNodeLock(path, { selfAddr: 'h:1', program: 'recover', takeOverForeign: false }),
    ).rejects.toBeInstanceOf(NodeLockError);
    await lock.release();
    expect(existsSync(path)).toBe(false);

    const again = await acquireNodeLock(path, {
      selfAddr: 'h:1',
      program: 'controller',
      takeOverForeign: true,
    });
    writeFileSync(path, lockText({ pid: 1 })); // someone else's now
    await again.release();
    expect(existsSync(path)).toBe(true);
  });

  it('of acquisitions racing for a free lock exactly one gets it; the others are told who holds it', async () => {
    const path = join(procs.dir(), 'n.lock');
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) =>
        acquireNodeLock(path, { selfAddr: `h:${i}`, program: 'controller', takeOverForeign: true }),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(NodeLockError);
    const winner = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof acquireNodeLock>>>).value;
    expect(readdirSync(dirname(path)).filter((f) => f.startsWith('n.lock'))).toEqual(['n.lock']);
    await winner.release();
    expect(existsSync(path)).toBe(false);
  });

  it('stale: a dead process, a pid now used by another program, an unreadable file', async () => {
    const path = join(procs.dir(), 'n.lock');
    writeFileSync(path, lockText({ pid: await deadPid(), procStart: '1' }));
    expect(await inspectNodeLock(path)).toMatchObject({
      kind: 'stale',
      why: expect.stringContaining('gone'),
    });
    const lock = await acquireNodeLock(path, { selfAddr: 'h:1', program: 'recover', takeOverForeign: false });
    expect(lock.replaced?.kind).toBe('stale');
    await lock.release();

    if (procStart(process.pid) !== null) {
      // a live pid whose start time differs from the one recorded: the pid was reused
      writeFileSync(path, lockText({ pid: process.ppid, procStart: 'not-its-start' }));
      expect(await inspectNodeLock(path)).toMatchObject({
        kind: 'stale',
        why: expect.stringContaining('another'),
      });
    }
    writeFileSync(path, '{"pid": ');
    expect(await inspectNodeLock(path)).toMatchObject({ kind: 'stale', owner: null });
  });

  it('held by a live process; a lock from another host stops recover, not the controller', async () => {
    const path = join(procs.dir(), 'n.lock');
    writeFileSync(path, lockText({ pid: process.ppid, procStart: procStart(process.ppid) }));
    expect(await inspectNodeLock(path)).toMatchObject({ kind: 'held', owner: { pid: process.ppid } });
    const refused = acquireNodeLock(path, { selfAddr: 'h:1', program: 'controller', takeOverForeign: true });
    await expect(refused).rejects.toThrow(/NODE_LOCKED: .* held by a running process: controller pid/);

    writeFileSync(path, lockText({ pid: 4242, host: 'elsewhere' }));
    expect(await inspectNodeLock(path)).toMatchObject({ kind: 'foreign' });
    await expect(
      acquireNodeLock(path, { selfAddr: 'h:1', program: 'recover', takeOverForeign: false }),
    ).rejects.toThrow(/host "elsewhere".*remove the file if no node runs/);
    const taken = await acquireNodeLock(path, {
      selfAddr: 'h:1',
      program: 'controller',
      takeOverForeign: true,
    });
    expect(taken.replaced?.kind).toBe('foreign');
    await taken.release();
  });
});

describe('raftdcs controller and its lock', () => {
  it('a second controller on the same files exits 3 naming the lock; a clean stop removes it', async () => {
    const [self] = (await freeLoopbackAddresses(1)) as [string];
    const dir = procs.dir();
    const dataDir = join(dir, 'raft');
    const config = join(dir, 'c.yml');
    writeFileSync(
      config,
      `raft:\n  self_addr: '${self}'\n  data_dir: ${dataDir}\n  min_timeout: 0.2\n  max_timeout: 0.4\n  append_entries_period: 0.05\n`,
    );
    const lock = journalPaths(dataDir, self).lock;
    const first = procs.raftdcs(['controller', config]);
    await first.waitForLog((l) => l.msg === 'raft node listening', 20_000, 'the first controller');
    expect(await inspectNodeLock(lock)).toMatchObject({ kind: 'held', owner: { program: 'controller' } });

    const second = procs.raftdcs(['controller', config]);
    expect((await second.waitExit(20_000)).code).toBe(3);
    const refusal = second.logs().find((l) => String(l.msg).startsWith('another process runs this node'));
    expect(String(refusal?.err)).toContain(`held by a running process: controller pid ${first.child.pid}`);

    first.signal('SIGTERM');
    expect((await first.waitExit(20_000)).code).toBe(0);
    expect(existsSync(lock)).toBe(false);
  });
});
