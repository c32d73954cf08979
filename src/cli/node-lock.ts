/**
 * The advisory lock on a node's data files: `<data_dir>/<self_addr>.lock` (journalPaths().lock), a
 * small JSON document naming the process that runs the node — its pid, its host, and the start time
 * the kernel reports for that pid (Linux: field 22 of /proc/<pid>/stat), so a pid reused by another
 * program after a crash is told apart from the owner.
 *
 * `raftdcs controller` takes it before it opens the journal and removes it when it stops;
 * `raftdcs recover` refuses to touch the files while it names a live process, and holds it itself
 * while it rewrites them. A lock left by a process that died (SIGKILL, power loss) is stale and
 * taken over. A lock written on another host cannot be checked from here: recover refuses on it,
 * the controller takes it over with a warning (a data dir copied from another machine must not
 * keep its node from starting).
 *
 * Advisory only: a program that does not know it (pysyncobj, an older raftdcs) ignores it; recover
 * also checks that nothing listens on self_addr. The file is written atomically (temporary, fsync,
 * rename, fsync of the directory). This module must never remove a lock that names another live
 * process.
 */
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { RaftdcsError } from '../errors.js';

/** What the lock file says about its owner. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** the kernel's start time of the process (Linux clock ticks since boot), null where unknown */
  readonly procStart: string | null;
  /** ISO time the lock was taken */
  readonly since: string;
  readonly selfAddr: string;
  /** what holds it: `controller`, `recover` */
  readonly program: string;
}

export type LockState =
  /** no lock file */
  | { readonly kind: 'free' }
  /** a lock whose process is gone (or an unreadable file): safe to take over */
  | { readonly kind: 'stale'; readonly owner: LockOwner | null; readonly why: string }
  /** the process named runs on this host */
  | { readonly kind: 'held'; readonly owner: LockOwner }
  /** written on another host: cannot be checked from here */
  | { readonly kind: 'foreign'; readonly owner: LockOwner };

export class NodeLockError extends RaftdcsError<'NODE_LOCKED'> {
  override readonly name = 'NodeLockError';
  constructor(
    readonly path: string,
    readonly state: Extract<LockState, { kind: 'held' | 'foreign' }>,
  ) {
    super('NODE_LOCKED', `NODE_LOCKED: ${describeLock(path, state)}`);
  }
}

/** One line for an operator about who holds the lock at `path`. */
export function describeLock(path: string, state: LockState): string {
  switch (state.kind) {
    case 'free':
      return `${path} is free`;
    case 'stale':
      return `${path} is stale (${state.why})`;
    case 'held': {
      const o = state.owner;
      return `${path} is held by a running process: ${o.program} pid ${o.pid} (since ${o.since})`;
    }
    case 'foreign': {
      const o = state.owner;
      return (
        `${path} was taken on host ${JSON.stringify(o.host)} by ${o.program} pid ${o.pid} (since ${o.since}); ` +
        `it cannot be checked from ${JSON.stringify(hostname())} — remove the file if no node runs on this data dir there`
      );
    }
  }
}

/** The kernel's start time of `pid` (Linux), or null where /proc does not tell. */
async function processStart(pid: number | 'self'): Promise<string | null> {
  let stat: string;
  try {
    stat = await fsp.readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // `pid (comm) state ppid …`: comm may hold spaces and parentheses; fields restart after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // field 22 (starttime) is the 20th after comm (fields 3 onwards)
  return fields[19] ?? null;
}

/** true when a process with this pid exists (EPERM: it exists, owned by someone else). */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): LockOwner | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.pid !== 'number' || !Number.isSafeInteger(o.pid) || o.pid <= 0) return null;
  if (typeof o.host !== 'string') return null;
  return {
    pid: o.pid,
    host: o.host,
    procStart: typeof o.procStart === 'string' ? o.procStart : null,
    since: typeof o.since === 'string' ? o.since : '?',
    selfAddr: typeof o.selfAddr === 'string' ? o.selfAddr : '?',
    program: typeof o.program === 'string' ? o.program : '?',
  };
}

/** Who holds the lock at `path`, judged from this host. */
export async function inspectNodeLock(path: string): Promise<LockState> {
  let text: string;
  try {
    text = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'free' };
    throw e;
  }
  const owner = parseOwner(text);
  if (owner === null) return { kind: 'stale', owner: null, why: 'the file does not name a process' };
  if (owner.host !== hostname()) return { kind: 'foreign', owner };
  if (owner.pid === process.pid) {
    // our own pid: held by us only if the start time matches (else a previous life of this pid)
    const mine = await processStart('self');
    if (owner.procStart === null || mine === null || owner.procStart === mine) return { kind: 'held', owner };
    return { kind: 'stale', owner, why: `pid ${owner.pid} is now another process` };
  }
  if (!pidExists(owner.pid)) return { kind: 'stale', owner, why: `process ${owner.pid} is gone` };
  if (owner.procStart !== null) {
    const now = await processStart(owner.pid);
    if (now !== null && now !== owner.procStart) {
      return { kind: 'stale', owner, why: `pid ${owner.pid} is now another process` };
    }
  }
  return { kind: 'held', owner };
}

async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const h = await fsp.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * Put the written lock `tmp` at `path`. Where there was no lock, a hard link creates it only if it
 * still does not exist, so of two processes that both found it free exactly one gets it (the other
 * gets NodeLockError); over a stale or foreign lock, a rename replaces it. A file system without
 * hard links gets the rename too.
 */
async function placeLockFile(tmp: string, path: string, wasFree: boolean): Promise<void> {
  if (!wasFree) {
    await fsp.rename(tmp, path);
    return;
  }
  try {
    await fsp.link(tmp, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') {
      await fsp.rename(tmp, path);
      return;
    }
    await fsp.unlink(tmp).catch(() => undefined);
    const now = await inspectNodeLock(path);
    if (now.kind === 'held' || now.kind === 'foreign') throw new NodeLockError(path, now);
    throw new Error(`the lock ${path} appeared while it was being taken, and its owner is gone: try again`);
  }
  await fsp.unlink(tmp);
}

/** Distinguishes the temporary files of acquisitions running at once in one process. */
let tmpCounter = 0;

/** A lock this process holds. */
export interface NodeLock {
  readonly path: string;
  /** what the lock replaced (stale or foreign), null when it was free */
  readonly replaced: Extract<LockState, { kind: 'stale' | 'foreign' }> | null;
  /** remove the lock file if it still names this process */
  release(): Promise<void>;
}

export interface AcquireOptions {
  readonly selfAddr: string;
  /** `controller`, `recover` */
  readonly program: string;
  /** take over a lock written on another host (the controller), else refuse (recover) */
  readonly takeOverForeign: boolean;
}

/** Take the lock at `path`; NodeLockError when a live process (or, unless allowed, another host) holds it. */
export async function acquireNodeLock(path: string, options: AcquireOptions): Promise<NodeLock> {
  const before = await inspectNodeLock(path);
  if (before.kind === 'held') throw new NodeLockError(path, before);
  if (before.kind === 'foreign' && !options.takeOverForeign) throw new NodeLockError(path, before);
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    procStart: await processStart('self'),
    since: new Date().toISOString(),
    selfAddr: options.selfAddr,
    program: options.program,
  };
  const text = `${JSON.stringify(owner)}\n`;
  const tmp = `${path}.tmp.${process.pid}.${++tmpCounter}`;
  const h = await fsp.open(tmp, 'w', 0o644);
  try {
    await h.writeFile(text);
    await h.sync();
  } finally {
    await h.close();
  }
  await placeLockFile(tmp, path, before.kind === 'free');
  await syncDir(dirname(path));
  // two processes that replaced the same stale lock: the last rename wins, the other one backs off
  const after = await fsp.readFile(path, 'utf8').catch(() => '');
  if (after !== text) {
    const now = await inspectNodeLock(path);
    if (now.kind === 'held' || now.kind === 'foreign') throw new NodeLockError(path, now);
    throw new Error(`the lock ${path} changed while it was being taken`);
  }
  return {
    path,
    replaced: before.kind === 'free' ? null : before,
    async release() {
      const current = await fsp.readFile(path, 'utf8').catch(() => null);
      if (current !== text) return;
      await fsp.unlink(path);
      await syncDir(dirname(path));
    },
  };
}
