/**
 * The Raft core must stay a pure state machine: it may import only its own modules (and type-only
 * imports of the wire value model), and must not reach for clocks, timers, randomness, the process
 * or the file system. This test reads the sources and fails on any such use.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const CORE_DIR = join(import.meta.dirname, '../../src/raft/core');
const files = readdirSync(CORE_DIR).filter((f) => f.endsWith('.ts'));

const FORBIDDEN_GLOBALS = [
  /\bDate\b/,
  /\bMath\.random\b/,
  /\bperformance\b/,
  /\bsetTimeout\b/,
  /\bsetInterval\b/,
  /\bsetImmediate\b/,
  /\bqueueMicrotask\b/,
  /\bprocess\./,
  /\brequire\(/,
  /\bimport\(/,
  /\bglobalThis\b/,
  /\bcrypto\b/,
  /\bfetch\(/,
];

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

describe('src/raft/core is pure', () => {
  it('has source files to check', () => {
    expect(files.length).toBeGreaterThan(3);
  });

  for (const file of files) {
    it(`${file} imports only core modules or wire types`, () => {
      const src = readFileSync(join(CORE_DIR, file), 'utf8');
      const imports = [...src.matchAll(/^\s*(import|export)\s+(type\s+)?[^'"]*from\s+'([^']+)'/gm)];
      for (const m of imports) {
        const spec = m[3] as string;
        const typeOnly = Boolean(m[2]);
        const ok = spec.startsWith('./') || (typeOnly && spec.startsWith('../../wire/'));
        expect(ok, `${file} imports '${spec}'`).toBe(true);
      }
      expect(src).not.toMatch(/^\s*import\s+'[^']+'/m);
    });

    it(`${file} uses no clock, timer, randomness, process or I/O global`, () => {
      const code = stripComments(readFileSync(join(CORE_DIR, file), 'utf8'));
      for (const re of FORBIDDEN_GLOBALS) expect(code, `${file} matches ${re}`).not.toMatch(re);
    });
  }
});
