/**
 * Access to the real Python peers (Debian's python3-pysyncobj, python3-cryptography, patroni) for
 * interop tests. Use `describePython(...)` instead of `describe(...)`: when the peers are missing the
 * suite is skipped with a loud reason — unless RAFTDCS_REQUIRE_PYTHON_PEERS=1 (CI), where missing
 * peers are a test failure.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';

export const PYTHON = '/usr/bin/python3';

let cached: string | null | undefined;

/** null when the peers are usable, else the reason they are not. */
export function pythonPeersMissingReason(): string | null {
  if (cached !== undefined) return cached;
  if (!existsSync(PYTHON)) {
    cached = `${PYTHON} not found`;
    return cached;
  }
  const r = spawnSync(
    PYTHON,
    ['-c', 'import pysyncobj, cryptography, patroni.dcs.raft; print(pysyncobj.__file__)'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  cached =
    r.status === 0
      ? null
      : `Debian packages python3-pysyncobj python3-cryptography patroni are not importable by ${PYTHON}: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
  return cached;
}

export const requirePythonPeers = process.env.RAFTDCS_REQUIRE_PYTHON_PEERS === '1';

/** describe() for suites that need the Python peers. */
export function describePython(name: string, fn: () => void): void {
  describeNeeding(
    name,
    pythonPeersMissingReason(),
    'apt-get install -y python3-pysyncobj python3-cryptography patroni',
    fn,
  );
}

let languageCached: string | null | undefined;

/**
 * null when Debian's Python itself is usable as an oracle for Python behaviour (`repr`, `int()`,
 * PyYAML's `safe_load`, Patroni's `parse_int`), else the reason it is not.
 */
export function debianPythonMissingReason(): string | null {
  if (languageCached !== undefined) return languageCached;
  if (!existsSync(PYTHON)) {
    languageCached = `${PYTHON} not found`;
    return languageCached;
  }
  const r = spawnSync(PYTHON, ['-c', 'import yaml, patroni.utils; print(yaml.__version__)'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  languageCached =
    r.status === 0
      ? null
      : `Debian packages python3-yaml patroni are not importable by ${PYTHON}: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`;
  return languageCached;
}

/**
 * describe() for suites that compare our Python imitations with Debian's Python: skipped loudly
 * without it, a failure when RAFTDCS_REQUIRE_PYTHON_PEERS=1.
 */
export function describeDebianPython(name: string, fn: () => void): void {
  describeNeeding(name, debianPythonMissingReason(), 'apt-get install -y python3 python3-yaml patroni', fn);
}

function describeNeeding(name: string, missing: string | null, install: string, fn: () => void): void {
  if (missing === null) {
    describe(name, fn);
    return;
  }
  if (requirePythonPeers) {
    describe(name, () => {
      it('has the Python peers installed (RAFTDCS_REQUIRE_PYTHON_PEERS=1)', () => {
        throw new Error(`Python peers required but missing: ${missing}`);
      });
    });
    return;
  }
  process.stderr.write(`\n*** SKIPPING Python suite "${name}": ${missing}\n*** install with: ${install}\n`);
  describe.skip(`${name} [SKIPPED: ${missing}]`, fn);
}

/** Run a Python snippet synchronously with stdin; returns stdout. Throws with stderr on failure. */
export function runPython(code: string, input?: string | Uint8Array, timeoutMs = 60_000): string {
  const r = spawnSync(PYTHON, ['-c', code], {
    input,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
