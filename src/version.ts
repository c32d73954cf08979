/**
 * raftdcs's version: the one place it is read, from package.json (`src/` and `dist/` both sit one
 * level below it). 'unknown' when package.json is not there (e.g. a bundled copy).
 *
 * Must never throw.
 */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      name?: unknown;
      version?: unknown;
    };
    if (pkg.name === 'raftdcs' && typeof pkg.version === 'string') return pkg.version;
  } catch {
    // fall through
  }
  return 'unknown';
}

export const RAFTDCS_VERSION: string = readVersion();
