/**
 * The golden fixtures are reproducible: `tools/fixtures/generate.py --check` (what
 * `npm run fixtures:check` runs) regenerates every generated vector with Debian's pysyncobj,
 * cryptography and Patroni into a temporary directory and compares it byte for byte with
 * test/fixtures/pysyncobj/ (the recorded captures structurally). It fails on any difference.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { describePython, PYTHON } from '../helpers/python.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

describePython('golden fixtures', () => {
  it('regenerate byte for byte from the generator in tools/fixtures', async () => {
    const { stdout } = await promisify(execFile)(
      PYTHON,
      ['tools/fixtures/generate.py', '--out', 'test/fixtures/pysyncobj', '--check'],
      { cwd: REPO, timeout: 60_000, maxBuffer: 8 << 20 },
    );
    expect(stdout).toMatch(/byte-identical: (\d+) of \1 generated files/);
    expect(stdout).toMatch(/check passed/);
  }, 90_000);
});
