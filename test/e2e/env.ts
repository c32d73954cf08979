/**
 * What the end-to-end tests need from the machine — Debian's Patroni 3.0.2 (`patroni`, `patronictl`,
 * `patroni_raft_controller`), PostgreSQL 15's binaries, and an unprivileged user to run PostgreSQL
 * as — and `describeE2e(...)`, which skips a suite loudly when something is missing, or fails it
 * when RAFTDCS_REQUIRE_PATRONI=1 (CI).
 *
 * PostgreSQL refuses to run as root, so when the tests run as root Patroni is started as the
 * `postgres` user (uid and gid from `id -u postgres` / `id -g postgres`); as any other user the
 * tests run Patroni as themselves.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';

export const PG_BIN = '/usr/lib/postgresql/15/bin';
export const PATRONI = '/usr/bin/patroni';
export const PATRONICTL = '/usr/bin/patronictl';
export const PATRONI_RAFT_CONTROLLER = '/usr/bin/patroni_raft_controller';
export const PSQL = join(PG_BIN, 'psql');

/** The user Patroni and PostgreSQL run as: uid/gid to pass to spawn, or null to keep ours. */
export interface RunAs {
  readonly uid: number;
  readonly gid: number;
  readonly name: string;
}

export const requirePatroni = process.env.RAFTDCS_REQUIRE_PATRONI === '1';

function idOf(flag: '-u' | '-g', user: string): number | null {
  const r = spawnSync('id', [flag, user], { encoding: 'utf8', timeout: 10_000 });
  const n = Number(r.stdout.trim());
  return r.status === 0 && Number.isInteger(n) ? n : null;
}

let runAsCached: RunAs | null | undefined;

/** The postgres user when we are root (null otherwise: run as ourselves). Throws if root has none. */
export function runAs(): RunAs | null {
  if (runAsCached !== undefined) return runAsCached;
  if (process.geteuid?.() !== 0) {
    runAsCached = null;
    return runAsCached;
  }
  const uid = idOf('-u', 'postgres');
  const gid = idOf('-g', 'postgres');
  if (uid === null || gid === null) throw new Error('running as root, and there is no `postgres` user');
  runAsCached = { uid, gid, name: 'postgres' };
  return runAsCached;
}

let missingCached: string | null | undefined;

/** null when Patroni and PostgreSQL are usable, else why not. */
export function patroniMissingReason(): string | null {
  if (missingCached !== undefined) return missingCached;
  missingCached = findMissing();
  return missingCached;
}

function findMissing(): string | null {
  const programs = [
    PATRONI,
    PATRONICTL,
    PATRONI_RAFT_CONTROLLER,
    ...['postgres', 'initdb', 'pg_ctl', 'pg_basebackup', 'pg_rewind', 'pg_controldata', 'psql'].map((p) =>
      join(PG_BIN, p),
    ),
  ];
  for (const p of programs) {
    try {
      accessSync(p, constants.X_OK);
    } catch {
      return `${p} is missing or not executable`;
    }
  }
  try {
    runAs();
  } catch (e) {
    return (e as Error).message;
  }
  const r = spawnSync(PATRONI, ['--version'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0 || !r.stdout.startsWith('patroni ')) {
    return `${PATRONI} --version failed: ${(r.stderr || r.error?.message || r.stdout).trim().split('\n').pop()}`;
  }
  if (!existsSync('/usr/bin/python3')) return '/usr/bin/python3 not found';
  return null;
}

/** describe() for suites that run real Patroni and PostgreSQL. */
export function describeE2e(name: string, fn: () => void): void {
  const missing = patroniMissingReason();
  if (missing === null) {
    describe(name, fn);
    return;
  }
  if (requirePatroni) {
    describe(name, () => {
      it('has Patroni and PostgreSQL 15 installed (RAFTDCS_REQUIRE_PATRONI=1)', () => {
        throw new Error(`Patroni and PostgreSQL required but missing: ${missing}`);
      });
    });
    return;
  }
  process.stderr.write(
    `\n*** SKIPPING end-to-end suite "${name}": ${missing}\n` +
      '*** install with: apt-get install -y patroni postgresql-15 (and run as root or as a user PostgreSQL accepts)\n',
  );
  describe.skip(`${name} [SKIPPED: ${missing}]`, fn);
}
