/**
 * One PostgreSQL node of `raftdcs demo --patroni` as processes: Patroni (in a process group of its
 * own, so that Ctrl-C on the terminal reaches the demo alone, which then stops things in order),
 * run as the `postgres` user when we are root, and the postmaster it starts.
 *
 * Stopping is Patroni's own clean shutdown (SIGTERM: it stops PostgreSQL and releases its leader
 * key); only when that does not end in time is the group killed and a PostgreSQL left behind shut
 * down — so the data directory is always left consistent and the next run continues from it.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { type PatroniNodeSpec, patroniYaml } from './patroni-config.js';
import type { PatroniSetup } from './patroni-requirements.js';

/** A live process (a zombie counts as dead). */
export function processRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (processRunning(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

export class DemoPatroniNode {
  private child: ChildProcess | null = null;
  private exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null = null;
  readonly yamlFile: string;
  readonly logFile: string;

  constructor(
    readonly spec: PatroniNodeSpec,
    private readonly setup: PatroniSetup,
  ) {
    this.yamlFile = join(spec.dir, 'patroni.yml');
    this.logFile = join(spec.dir, 'patroni.log');
  }

  get name(): string {
    return this.spec.name;
  }

  /** Patroni's pid while it runs, else null. */
  get pid(): number | null {
    const pid = this.child?.pid;
    return pid !== undefined && this.exit === null ? pid : null;
  }

  /** How Patroni ended ('' while it runs or before it started). */
  get exitText(): string {
    if (!this.exit) return '';
    return this.exit.signal ? `killed by ${this.exit.signal}` : `exited with code ${this.exit.code}`;
  }

  /** Seconds until a Patroni that ended is started again (null while it runs or before it started). */
  restartIn(delayMs: number): number | null {
    if (!this.exit) return null;
    return Math.max(0, (this.exit.at + delayMs - performance.now()) / 1000);
  }

  /**
   * Create the node's directory and configuration, owned by the user PostgreSQL runs as; null, or
   * why that user cannot use the directory.
   */
  prepare(raftAddrs: readonly string[]): string | null {
    mkdirSync(this.spec.dir, { recursive: true, mode: 0o750 });
    writeFileSync(this.yamlFile, patroniYaml(this.spec, raftAddrs, this.setup.pgBinDir), { mode: 0o640 });
    const user = this.setup.runAs;
    if (!user) return null;
    chownSync(this.spec.dir, user.uid, user.gid);
    chownSync(this.yamlFile, user.uid, user.gid);
    const probe = spawnSync('test', ['-w', this.spec.dir, '-a', '-r', this.yamlFile], {
      uid: user.uid,
      gid: user.gid,
      timeout: 10_000,
    });
    return probe.status === 0
      ? null
      : `PostgreSQL runs as the \`${user.name}\` user (we are root), and it cannot reach ${this.spec.dir}: ` +
          'choose a --dir every user can enter, e.g. --dir /var/tmp/raftdcs-demo-patroni';
  }

  /** Start Patroni; its output is appended to patroni.log. */
  start(): void {
    const fd = openSync(this.logFile, 'a', 0o644);
    writeSync(
      fd,
      `\n===== ${new Date().toISOString()} raftdcs demo starts ${this.setup.patroni} ${this.yamlFile}\n`,
    );
    const user = this.setup.runAs;
    try {
      this.exit = null;
      const child = spawn(this.setup.patroni, [this.yamlFile], {
        cwd: this.spec.dir,
        env: {
          PATH: '/usr/bin:/bin',
          HOME: this.spec.dir,
          LANG: 'C.UTF-8',
          LC_ALL: 'C.UTF-8',
          PYTHONUNBUFFERED: '1',
        },
        stdio: ['ignore', fd, fd],
        detached: true,
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
      });
      child.once('error', () => {
        this.exit = { code: -1, signal: null, at: performance.now() };
      });
      child.once('exit', (code, signal) => {
        this.exit = { code, signal, at: performance.now() };
      });
      this.child = child;
    } finally {
      closeSync(fd);
    }
  }

  /** Patroni's clean shutdown; the group killed and PostgreSQL shut down if it takes too long. */
  async stop(graceMs = 60_000): Promise<void> {
    const pid = this.pid;
    if (pid !== null) {
      process.kill(pid, 'SIGTERM');
      if (!(await waitGone(pid, graceMs))) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // the group is gone
        }
        await waitGone(pid, 10_000);
      }
    }
    await this.stopLeftoverPostgres();
  }

  /** The postmaster running on this node's data directory (from postmaster.pid), else null. */
  postmasterPid(): number | null {
    let pid: number;
    try {
      pid = Number(readFileSync(join(this.spec.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return null;
    }
    if (!Number.isInteger(pid) || pid <= 0 || !processRunning(pid)) return null;
    try {
      // the pid may have been reused by another program
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return argv.some((a) => a.endsWith('postgres')) && argv.includes(this.spec.dataDir) ? pid : null;
    } catch {
      return null;
    }
  }

  /** A PostgreSQL whose Patroni is gone: fast shutdown (SIGINT), immediate (SIGQUIT) after 30 s. */
  private async stopLeftoverPostgres(): Promise<void> {
    const pid = this.postmasterPid();
    if (pid === null) return;
    process.kill(pid, 'SIGINT');
    if (await waitGone(pid, 30_000)) return;
    process.kill(pid, 'SIGQUIT');
    await waitGone(pid, 10_000);
  }
}
