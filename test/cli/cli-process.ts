/**
 * Spawned processes for the CLI tests: `raftdcs` run from the sources (`node --import tsx
 * src/cli/main.ts …`, so tests need no build), Debian's `syncobj_admin` and
 * `patroni_raft_controller`. Every process started through `useProcesses()` is killed (SIGKILL)
 * and awaited in afterEach; every wait is bounded and says what it waited for. Environments are
 * cleaned of PATRONI_* variables so the runner's own environment cannot leak into a test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const MAIN = join(REPO, 'src/cli/main.ts');
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
export const SYNCOBJ_ADMIN = '/usr/bin/syncobj_admin';
export const PATRONI_RAFT_CONTROLLER = '/usr/bin/patroni_raft_controller';

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface Proc {
  readonly child: ChildProcess;
  readonly label: string;
  stdout(): string;
  stderr(): string;
  /** stderr lines that are JSON objects (our log lines) */
  logs(): Record<string, unknown>[];
  readonly exited: Promise<ExitStatus>;
  /** exit status once exited, else null */
  readonly status: ExitStatus | null;
  /** resolve with the first log line matching `pred`, or fail after `timeoutMs` */
  waitForLog(
    pred: (line: Record<string, unknown>) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<Record<string, unknown>>;
  /** resolve with the exit status, or fail after `timeoutMs` */
  waitExit(timeoutMs: number): Promise<ExitStatus>;
  signal(sig: NodeJS.Signals): void;
}

/** The environment for a child: ours without PATRONI_*, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('PATRONI_') && v !== undefined) env[k] = v;
  env.TSX_TSCONFIG_PATH = join(REPO, 'tsconfig.json');
  env.NO_COLOR = '1';
  delete env.NODE_OPTIONS;
  return { ...env, ...extra };
}

function start(
  command: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; label: string },
): Proc {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => {
    err += s;
  });
  let status: ExitStatus | null = null;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('error', (e) => {
      err += `\n[spawn error] ${e.message}`;
      status = { code: -1, signal: null };
      resolve(status);
    });
    child.once('close', (code, signal) => {
      status = { code, signal };
      resolve(status);
    });
  });
  const logs = () => {
    const lines: Record<string, unknown>[] = [];
    for (const line of err.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // a partial line
      }
    }
    return lines;
  };
  const describe = () =>
    `${options.label}: exit ${JSON.stringify(status)}\n--- stdout\n${out}\n--- stderr\n${err}`;
  return {
    child,
    label: options.label,
    stdout: () => out,
    stderr: () => err,
    logs,
    exited,
    get status() {
      return status;
    },
    async waitForLog(pred, timeoutMs, what) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = logs().find(pred);
        if (hit) return hit;
        if (status !== null) throw new Error(`${what}: process exited first\n${describe()}`);
        if (Date.now() > deadline)
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${describe()}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async waitExit(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${timeoutMs} ms waiting for the exit of ${describe()}`)),
          timeoutMs,
        );
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    signal(sig) {
      if (status === null) child.kill(sig);
    },
  };
}

export interface ProcessScope {
  /** `raftdcs <args>` from the sources */
  raftdcs(args: readonly string[], options?: { env?: Record<string, string>; cwd?: string }): Proc;
  /** any program */
  run(
    command: string,
    args: readonly string[],
    options?: { env?: Record<string, string>; cwd?: string },
  ): Proc;
  /** a fresh directory for this test (removed afterwards) */
  dir(): string;
}

/** Processes and directories that live for one test. */
export function useProcesses(): ProcessScope {
  const procs: Proc[] = [];
  const dirs: string[] = [];
  afterEach(async () => {
    for (const p of procs) p.signal('SIGKILL');
    await Promise.all(procs.map((p) => p.waitExit(10_000)));
    procs.length = 0;
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    dirs.length = 0;
  });
  const scope: ProcessScope = {
    dir() {
      const d = mkdtempSync(join(tmpdir(), 'raftdcs-cli-'));
      dirs.push(d);
      return d;
    },
    raftdcs(args, options = {}) {
      const p = start(process.execPath, ['--import', TSX_LOADER, MAIN, ...args], {
        cwd: options.cwd ?? scope.dir(),
        env: childEnv(options.env),
        label: `raftdcs ${args.join(' ')}`,
      });
      procs.push(p);
      return p;
    },
    run(command, args, options = {}) {
      const p = start(command, args, {
        cwd: options.cwd ?? scope.dir(),
        env: childEnv(options.env),
        label: `${command} ${args.join(' ')}`,
      });
      procs.push(p);
      return p;
    },
  };
  return scope;
}

/** Poll `fn` until it returns a value that is not undefined, or fail after `timeoutMs`. */
export async function eventually<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
