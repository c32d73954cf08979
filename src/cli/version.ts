/**
 * The raftdcs version, read from package.json next to the sources or the build (both
 * `src/cli/` and `dist/cli/` sit two levels below it). Falls back to the runtime's constant when
 * package.json is not there (e.g. a bundled copy).
 *
 * Must never throw.
 */
import { readFileSync } from 'node:fs';
import { RAFTDCS_VERSION } from '../raft/syncobj.js';

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      name?: unknown;
      version?: unknown;
    };
    if (pkg.name === 'raftdcs' && typeof pkg.version === 'string') return pkg.version;
  } catch {
    // fall through
  }
  return RAFTDCS_VERSION;
}

export const VERSION: string = readVersion();
