/**
 * Global setup of `npm run test:e2e` (vitest.e2e.config.ts): gives the test files a file to record
 * their measured times in, and at the end of the run prints one table of them, the raftdcs and the
 * Python witnesses side by side.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { comparisonTable, type Measurement } from './times-table.js';

export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'raftdcs-e2e-times-'));
  const file = join(dir, 'times.jsonl');
  project.provide('e2eTimesFile', file);
  return () => {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // nothing was measured
    }
    rmSync(dir, { recursive: true, force: true });
    const ms = text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Measurement);
    if (ms.length > 0) process.stdout.write(`\n[e2e] measured times\n${comparisonTable(ms)}\n\n`);
  };
}
