/**
 * Every golden-vector kind must be handled by a named test file. A kind added to the vectors
 * without a handler makes this fail, so new vectors cannot go silently untested.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { vectorIndex } from '../helpers/vectors.js';

const here = dirname(fileURLToPath(import.meta.url));

/** kind → the test file (relative to test/wire/) that checks every vector of that kind */
const HANDLED_KINDS: Record<string, string[]> = {
  // the pickle codec's tests
  pickle: ['pickle.test.ts'],
  'pickle-accepted': ['pickle.test.ts'],
  command: ['pickle.test.ts'],
  dump: ['pickle.test.ts'],
  'journal-meta': ['pickle.test.ts', 'journal.test.ts'],
  // frames, Fernet, journal
  kdf: ['frames.test.ts'],
  fernet: ['frames.test.ts'],
  frame: ['frames.test.ts'],
  'frame-stream': ['frames.test.ts'],
  'frame-real': ['frames.test.ts', 'pickle.test.ts'],
  'frame-encrypted': ['frames.test.ts'],
  'frame-encrypted-invalid': ['frames.test.ts'],
  journal: ['journal.test.ts'],
  capture: ['captures.test.ts'],
};

describe('golden vector coverage', () => {
  const kinds = [...new Set(vectorIndex().vectors.map((v) => v.kind))].sort();

  it('every vector kind is in the handled list', () => {
    const unhandled = kinds.filter((k) => !(k in HANDLED_KINDS));
    expect(unhandled, `vector kinds without a test: ${unhandled.join(', ')}`).toEqual([]);
  });

  it('every listed kind still exists in the vectors (no stale entries)', () => {
    const stale = Object.keys(HANDLED_KINDS).filter((k) => !kinds.includes(k));
    expect(stale).toEqual([]);
  });

  it('the handling test files exist', () => {
    const missing = [...new Set(Object.values(HANDLED_KINDS).flat())].filter(
      (f) => !existsSync(join(here, f)),
    );
    expect(missing).toEqual([]);
  });
});
