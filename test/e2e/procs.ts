/**
 * Long-running processes of the end-to-end tests (Patroni nodes, witnesses): each is started in a
 * process group of its own, optionally as another user, with stdout and stderr appended to one log
 * file; stopping one signals its whole group and escalates to SIGKILL after a grace period. The
 * tail of a log file is what a failing test prints.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { RunAs } from './env.js';

/** The line that opens each process start in a log file. */
export const START_MARKER = '=====';

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface LongProcess {
  readonly label: string;
  readonly pid: number;
  readonly logFile: string;
  readonly exited: Promise<ExitStatus>;
  /** null while it runs */
  readonly status: ExitStatus | null;
  /** signal the whole process group (no-op once exited) */
  signalGroup(sig: NodeJS.Signals): void;
  /** signal only the process itself (no-op once exited) */
  signal(sig: NodeJS.Signals): void;
  /**
   * `first` (SIGTERM by default; null: nothing, let it exit by itself) to the group, SIGKILL to the
   * group after `graceMs`; resolves once it exited
   */
  stop(graceMs: number, first?: NodeJS.Signals | null): Promise<ExitStatus>;
}

export interface StartOptions {
  readonly label: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  readonly logFile: string;
  readonly runAs?: RunAs | null;
}

/** Start `command`; its output is appended to `logFile` (created by us, then handed to the child). */
export function startProcess(command: string, args: readonly string[], o: StartOptions): LongProcess {
  const fd = openSync(o.logFile, 'a', 0o644);
  writeSync(fd, `\n${START_MARKER} ${new Date().toISOString()} start: ${command} ${args.join(' ')}\n`);
  let child: ChildProcess;
  try {
    child = spawn(command, args, {
      cwd: o.cwd,
      env: o.env,
      stdio: ['ignore', fd, fd],
      detached: true,
      ...(o.runAs ? { uid: o.runAs.uid, gid: o.runAs.gid } : {}),
    });
  } finally {
    closeSync(fd);
  }
  let status: ExitStatus | null = null;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('error', () => {
      status = { code: -1, signal: null };
      resolve(status);
    });
    child.once('exit', (code, signal) => {
      status = { code, signal };
      resolve(status);
    });
  });
  const pid = child.pid ?? -1;
  const signalGroup = (sig: NodeJS.Signals) => {
    if (status !== null || pid <= 0) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is gone
    }
  };
  return {
    label: o.label,
    pid,
    logFile: o.logFile,
    exited,
    get status() {
      return status;
    },
    signalGroup,
    signal(sig) {
      if (status === null) child.kill(sig);
    },
    async stop(graceMs, first = 'SIGTERM') {
      if (first !== null) signalGroup(first);
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          signalGroup('SIGKILL');
          resolve();
        }, graceMs);
      });
      await Promise.race([exited, killed]);
      clearTimeout(timer);
      // after SIGKILL of the group the exit is a matter of the kernel reaping it
      return withTimeout(exited, 15_000, `the exit of ${o.label} (pid ${pid}) after SIGKILL`);
    },
  };
}

/** `p`, or a rejection naming `what` after `ms`. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The last `lines` lines of a file ('' when it does not exist). */
export function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  return text
    .split('\n')
    .slice(-lines - 1)
    .join('\n');
}

/** true while a process with this pid exists (signal 0). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
