/**
 * One member of an end-to-end cluster, as processes: a Patroni node (Patroni under the subreaper
 * `reaper.py`, as the PostgreSQL user, and the postmaster it starts) or a witness
 * (`raftdcs controller` from the sources, or Debian's `patroni_raft_controller`, as ourselves).
 *
 * A Patroni node can lose its Patroni process alone (SIGKILL of the pid the reaper wrote), its
 * postmaster alone, or both; a reaper whose Patroni died keeps reaping the PostgreSQL it left
 * until that stops, and is kept in `lingering` so the teardown finds it.
 */
import { readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { childEnv, MAIN } from '../cli/cli-process.js';
import type { NodeAddresses, NodePaths } from './config.js';
import { PATRONI, PATRONI_RAFT_CONTROLLER, type RunAs } from './env.js';
import { until } from './observe.js';
import { type LongProcess, startProcess } from './procs.js';

const REAPER = fileURLToPath(new URL('./reaper.py', import.meta.url));
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const GRACE_MS = 5000;

export type WitnessKind = 'raftdcs' | 'python';

/** `--log-level X` for raftdcs witnesses when RAFTDCS_E2E_WITNESS_LOG_LEVEL=X (e.g. DEBUG) is set. */
function witnessLogLevel(): string[] {
  const level = process.env.RAFTDCS_E2E_WITNESS_LOG_LEVEL;
  return level ? ['--log-level', level] : [];
}

/** Process state of one pid from /proc (null when there is no such process). */
function procStat(pid: number): { state: string; pgid: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '?', pgid: Number(fields[2]) };
  } catch {
    return null;
  }
}

/** A live process (zombies count as dead: this machine's PID 1 may never reap them). */
export function running(pid: number): boolean {
  const s = procStat(pid);
  return s !== null && s.state !== 'Z' && s.state !== 'X';
}

export class PatroniNode {
  proc: LongProcess | null = null;
  /** earlier reapers whose Patroni was killed; each lives until the PostgreSQL it holds stops */
  readonly lingering: LongProcess[] = [];
  readonly yamlFile: string;
  readonly logFile: string;
  readonly #pidFile: string;

  constructor(
    readonly addrs: NodeAddresses,
    readonly paths: NodePaths,
    private readonly user: RunAs | null,
  ) {
    this.yamlFile = join(paths.dir, 'patroni.yml');
    this.logFile = join(paths.dir, 'patroni.log');
    this.#pidFile = join(paths.dir, 'patroni.pid');
  }

  get name(): string {
    return this.addrs.name;
  }

  /** Start Patroni (under a fresh reaper); resolves once the reaper wrote Patroni's pid. */
  async start(): Promise<void> {
    if (this.patroniPid() !== null) throw new Error(`${this.name}: Patroni is already running`);
    // the previous reaper may still hold the PostgreSQL its Patroni left running
    if (this.proc) this.lingering.push(this.proc);
    rmSync(this.#pidFile, { force: true });
    const env: NodeJS.ProcessEnv = {
      PATH: '/usr/bin:/bin',
      HOME: this.paths.dir,
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      PYTHONUNBUFFERED: '1',
    };
    this.proc = startProcess('/usr/bin/python3', [REAPER, this.#pidFile, '--', PATRONI, this.yamlFile], {
      label: `patroni ${this.name}`,
      cwd: this.paths.dir,
      env,
      logFile: this.logFile,
      runAs: this.user,
    });
    const proc = this.proc;
    await until(
      `the reaper of ${this.name} to start Patroni`,
      15_000,
      async () => {
        if (proc.status !== null) throw new Error(`the reaper exited: ${JSON.stringify(proc.status)}`);
        return this.patroniPid() ?? undefined;
      },
      () => `see ${this.logFile}`,
      50,
    );
  }

  /** Patroni's pid while it runs, else null. */
  patroniPid(): number | null {
    try {
      const pid = Number(readFileSync(this.#pidFile, 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 && running(pid) ? pid : null;
    } catch {
      return null;
    }
  }

  /** SIGKILL the Patroni process only (its PostgreSQL keeps running); resolves once it is gone. */
  async killPatroni(): Promise<void> {
    const pid = this.patroniPid();
    if (pid === null) throw new Error(`${this.name}: Patroni is not running`);
    process.kill(pid, 'SIGKILL');
    await until(
      `Patroni of ${this.name} (pid ${pid}) to die`,
      10_000,
      async () => !running(pid) || undefined,
    );
  }

  /** The running postmaster of this node's data directory, from postmaster.pid; null if none. */
  postmasterPid(): number | null {
    let pid: number;
    try {
      pid = Number(readFileSync(join(this.paths.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return null;
    }
    if (!Number.isInteger(pid) || pid <= 0 || !running(pid)) return null;
    // the pid could have been reused: it must be a postgres running on our data directory
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      return cmdline.some((a) => a.endsWith('postgres')) && cmdline.includes(this.paths.dataDir) ? pid : null;
    } catch {
      return null;
    }
  }

  /** SIGKILL the postmaster alone (its backends notice and exit); resolves once it is gone. */
  async killPostmaster(): Promise<number> {
    const pid = this.postmasterPid();
    if (pid === null) throw new Error(`${this.name}: no postmaster running`);
    process.kill(pid, 'SIGKILL');
    await until(
      `the postmaster of ${this.name} (pid ${pid}) to die`,
      10_000,
      async () => !running(pid) || undefined,
    );
    return pid;
  }

  /**
   * Stop whatever PostgreSQL runs on the data directory: SIGQUIT (immediate shutdown, which also
   * releases its shared memory), then SIGKILL to its process group after a grace period.
   */
  async stopPostgres(graceMs = GRACE_MS): Promise<void> {
    const pid = this.postmasterPid();
    if (pid === null) return;
    process.kill(pid, 'SIGQUIT');
    const gone = async () => !running(pid) || undefined;
    try {
      await until(`the postmaster of ${this.name} (pid ${pid}) to stop`, graceMs, gone, undefined, 100);
    } catch {
      const pgid = procStat(pid)?.pgid;
      if (pgid !== undefined && pgid > 1 && pgid !== process.pid) process.kill(-pgid, 'SIGKILL');
      else process.kill(pid, 'SIGKILL');
      await until(`the postmaster of ${this.name} (pid ${pid}) to die after SIGKILL`, 10_000, gone);
    }
  }

  /** Everything of this node gone: Patroni killed, PostgreSQL stopped, every reaper exited. */
  async destroy(): Promise<void> {
    const pid = this.patroniPid();
    if (pid !== null) process.kill(pid, 'SIGKILL');
    await this.stopPostgres();
    // the reapers exit by themselves once they have no child left
    const reapers = [...this.lingering, ...(this.proc ? [this.proc] : [])];
    await Promise.all(reapers.map((r) => r.stop(GRACE_MS, null)));
  }

  /** SIGKILL to everything of this node, synchronously (for a test process that is exiting). */
  killNow(): void {
    const pid = this.patroniPid();
    if (pid !== null) process.kill(pid, 'SIGKILL');
    const pm = this.postmasterPid();
    const pgid = pm === null ? undefined : procStat(pm)?.pgid;
    if (pm !== null) process.kill(pgid !== undefined && pgid > 1 ? -pgid : pm, 'SIGKILL');
    for (const r of [...this.lingering, ...(this.proc ? [this.proc] : [])]) r.signalGroup('SIGKILL');
  }
}

export class Witness {
  proc: LongProcess | null = null;
  readonly yamlFile: string;
  readonly logFile: string;

  constructor(
    readonly index: number,
    readonly addr: string,
    readonly dir: string,
    public kind: WitnessKind,
  ) {
    this.yamlFile = join(dir, 'raft.yml');
    this.logFile = join(dir, 'witness.log');
  }

  get dataDir(): string {
    return join(this.dir, 'raft');
  }

  get label(): string {
    return `witness ${this.index} (${this.kind === 'raftdcs' ? 'raftdcs controller' : 'patroni_raft_controller'})`;
  }

  start(kind: WitnessKind = this.kind): void {
    if (this.proc && this.proc.status === null) throw new Error(`${this.label} already started`);
    this.kind = kind;
    const [command, args] =
      kind === 'raftdcs'
        ? [
            process.execPath,
            ['--import', TSX_LOADER, MAIN, 'controller', this.yamlFile, ...witnessLogLevel()],
          ]
        : [PATRONI_RAFT_CONTROLLER, [this.yamlFile]];
    this.proc = startProcess(command, args, {
      label: this.label,
      cwd: this.dir,
      env: childEnv({ PYTHONUNBUFFERED: '1' }),
      logFile: this.logFile,
    });
  }

  /** kill -9 (the whole process group); resolves once it exited. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.status !== null) throw new Error(`${this.label} is not running`);
    await p.stop(0, 'SIGKILL');
  }

  /** SIGTERM, SIGKILL after the grace period. */
  async stop(graceMs = GRACE_MS): Promise<void> {
    if (this.proc) await this.proc.stop(graceMs);
  }

  /** SIGKILL to its process group, synchronously (for a test process that is exiting). */
  killNow(): void {
    this.proc?.signalGroup('SIGKILL');
  }
}
