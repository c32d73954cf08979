/**
 * What `raftdcs demo --patroni` needs from the machine, found before anything starts: Patroni (its
 * program, and the pysyncobj its Raft DCS imports), PostgreSQL's server binaries, and — when we
 * run as root, which PostgreSQL refuses — the `postgres` user to run them as. What is missing comes
 * back as reasons plus the one command that installs it on Debian or Ubuntu.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The programs Patroni runs from PostgreSQL's bin directory. */
const PG_PROGRAMS = ['postgres', 'initdb', 'pg_ctl', 'pg_basebackup', 'pg_rewind', 'pg_controldata'];

export const INSTALL_LINE = 'sudo apt-get install -y patroni python3-pysyncobj postgresql-15';

/** Where PostgreSQL and Patroni run. */
export interface PatroniSetup {
  readonly patroni: string;
  readonly patroniVersion: string;
  readonly pgBinDir: string;
  readonly pgVersion: string;
  /** the user to run Patroni as (root only), else null: as ourselves */
  readonly runAs: { readonly uid: number; readonly gid: number; readonly name: string } | null;
}

export type Requirements =
  | { readonly ok: true; readonly setup: PatroniSetup }
  | { readonly ok: false; readonly missing: readonly string[] };

export interface RequirementOptions {
  /** Patroni's program (default: `patroni` on PATH, else /usr/bin/patroni) */
  readonly patroniBin?: string;
  /** PostgreSQL's bin directory (default: the newest /usr/lib/postgresql/<version>/bin) */
  readonly pgBinDir?: string;
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `name` on PATH, else null. */
function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return null;
}

/** Debian's layout: /usr/lib/postgresql/<major>/bin, newest first. */
function debianPgBinDirs(): string[] {
  try {
    return readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => `/usr/lib/postgresql/${v}/bin`)
      .filter((d) => executable(join(d, 'postgres')));
  } catch {
    return [];
  }
}

function firstLine(s: string | undefined): string {
  return (s ?? '').trim().split('\n')[0] ?? '';
}

function checkPatroni(bin: string, missing: string[]): string {
  if (!executable(bin)) {
    missing.push(`Patroni: ${bin} is missing or not executable`);
    return '';
  }
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0 || !r.stdout.startsWith('patroni ')) {
    missing.push(
      `Patroni: \`${bin} --version\` failed: ${firstLine(r.stderr || r.error?.message || r.stdout)}`,
    );
    return '';
  }
  // Patroni's Raft DCS imports pysyncobj with the interpreter of Patroni's own script
  const shebang = firstLine(spawnSync('head', ['-n1', bin], { encoding: 'utf8' }).stdout);
  const python = shebang.startsWith('#!') ? shebang.slice(2).trim().split(/\s+/) : ['/usr/bin/python3'];
  const [interp = '/usr/bin/python3', ...interpArgs] = python;
  const imp = spawnSync(interp, [...interpArgs, '-c', 'import pysyncobj'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (imp.status !== 0)
    missing.push(`pysyncobj, which Patroni's Raft DCS needs, cannot be imported by ${interp}`);
  return r.stdout.trim().replace(/^patroni /, '');
}

function checkPostgres(dir: string | undefined, missing: string[]): string {
  if (dir === undefined) {
    missing.push('PostgreSQL: no server binaries under /usr/lib/postgresql/<version>/bin');
    return '';
  }
  const absent = PG_PROGRAMS.filter((p) => !executable(join(dir, p)));
  if (absent.length > 0) {
    missing.push(`PostgreSQL: ${absent.map((p) => join(dir, p)).join(', ')} missing or not executable`);
    return '';
  }
  const r = spawnSync(join(dir, 'postgres'), ['--version'], { encoding: 'utf8', timeout: 30_000 });
  return firstLine(r.stdout).replace(/^postgres \(PostgreSQL\) /, '');
}

function idOf(flag: '-u' | '-g', user: string): number | null {
  const r = spawnSync('id', [flag, user], { encoding: 'utf8', timeout: 10_000 });
  const n = Number(r.stdout.trim());
  return r.status === 0 && r.stdout.trim() !== '' && Number.isInteger(n) ? n : null;
}

function checkUser(missing: string[]): PatroniSetup['runAs'] {
  if (process.geteuid?.() !== 0) return null;
  const uid = idOf('-u', 'postgres');
  const gid = idOf('-g', 'postgres');
  if (uid === null || gid === null) {
    missing.push('PostgreSQL does not run as root, and there is no `postgres` user to run it as');
    return null;
  }
  return { uid, gid, name: 'postgres' };
}

/** Everything the demo needs, or every reason it cannot start. */
export function findRequirements(o: RequirementOptions = {}): Requirements {
  const missing: string[] = [];
  const patroni = o.patroniBin ?? onPath('patroni') ?? '/usr/bin/patroni';
  const patroniVersion = checkPatroni(patroni, missing);
  const pgBinDir = o.pgBinDir ?? debianPgBinDirs()[0];
  const pgVersion = checkPostgres(pgBinDir, missing);
  const runAs = checkUser(missing);
  if (missing.length > 0 || pgBinDir === undefined) return { ok: false, missing };
  return { ok: true, setup: { patroni, patroniVersion, pgBinDir, pgVersion, runAs } };
}
