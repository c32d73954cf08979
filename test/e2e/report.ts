/**
 * Measured times of the end-to-end scenarios: each is printed as a line
 * (`[e2e] A raftdcs: primary postgres killed -> replica promoted in 7.3 s`) and, under
 * `npm run test:e2e`, also appended as JSON to the file the e2e global setup provides, from which
 * it prints one table comparing the witness kinds at the end of the run.
 */
import { appendFileSync } from 'node:fs';
import { inject } from 'vitest';
import type { Measurement } from './times-table.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** JSON-lines file of measured times (only under vitest.e2e.config.ts) */
    e2eTimesFile: string;
  }
}

function timesFile(): string | undefined {
  try {
    return inject('e2eTimesFile');
  } catch {
    return undefined;
  }
}

/** Print (and record) one measurement. */
export function report(m: Measurement): void {
  const detail = m.detail ? ` [${m.detail}]` : '';
  console.log(`[e2e] ${m.topology} ${m.witness}: ${m.what} in ${m.seconds.toFixed(1)} s${detail}`);
  const file = timesFile();
  if (file) appendFileSync(file, `${JSON.stringify(m)}\n`);
}
