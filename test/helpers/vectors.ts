/** Access to the golden vectors in ../shared/vectors/pysyncobj/. */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TypedJson } from './typed-json.js';

const here = dirname(fileURLToPath(import.meta.url));
export const VECTORS_DIR = process.env.RAFTDCS_VECTORS_DIR ?? resolve(here, '../fixtures/pysyncobj');

export interface Vector {
  name: string;
  kind: string;
  file: string;
  description: string;
  value?: TypedJson;
  encode_exact?: boolean;
  canonical_file?: string;
  [k: string]: unknown;
}

export interface VectorIndex {
  password: string;
  vectors: Vector[];
}

let index: VectorIndex | undefined;
export function vectorIndex(): VectorIndex {
  index ??= JSON.parse(readFileSync(join(VECTORS_DIR, 'index.json'), 'utf8')) as VectorIndex;
  return index;
}

export function vectorBytes(file: string): Buffer {
  return readFileSync(join(VECTORS_DIR, file));
}
