/**
 * Journal benchmark: appends per second of 100-byte entries through FileJournal's group commit,
 * with 1,000 concurrent writers each doing `append` + `await sync()` in a loop (the shape of a
 * leader under many proposals), in a temporary directory on the default temp file system.
 * Reports throughput, fsyncs, entries per fsync and acknowledgement latency percentiles.
 *
 * Not a test: it asserts nothing, and it must never leave files behind.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileJournal, type JournalFsyncPolicy } from '../src/raft/journal/file-journal.js';

export interface JournalBenchOptions {
  readonly fsync: JournalFsyncPolicy;
  /** concurrent writers (default 1000) */
  readonly writers?: number;
  /** command size (default 100 bytes) */
  readonly entryBytes?: number;
  /** how long to run (default 3000 ms) */
  readonly durationMs?: number;
  /** where the temporary directory goes (default os.tmpdir()) */
  readonly dir?: string;
}

export interface JournalBenchResult {
  readonly fsync: JournalFsyncPolicy;
  readonly writers: number;
  readonly entryBytes: number;
  readonly appends: number;
  readonly seconds: number;
  readonly appendsPerSecond: number;
  /** fdatasyncs of the journal (0 with fsync 'never') */
  readonly fsyncs: number;
  /** write+fsync rounds; appends / rounds = the group-commit batch */
  readonly rounds: number;
  readonly appendsPerRound: number;
  /** append → sync resolved, milliseconds */
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly fileBytes: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export async function benchJournal(options: JournalBenchOptions): Promise<JournalBenchResult> {
  const writers = options.writers ?? 1000;
  const entryBytes = options.entryBytes ?? 100;
  const durationMs = options.durationMs ?? 3000;
  const dir = await mkdtemp(join(options.dir ?? tmpdir(), 'raftdcs-bench-journal-'));
  try {
    const journal = new FileJournal(join(dir, '127.0.0.1:2222.journal'), { fsync: options.fsync });
    const state = await journal.open();
    let next = (state.entries.at(-1)?.index ?? 1) + 1;
    const command = new Uint8Array(entryBytes).fill(0x42);
    command[0] = 0; // a REGULAR command
    const latencies: number[] = [];
    const start = performance.now();
    const deadline = start + durationMs;
    const writer = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        journal.append([{ index: next++, term: 1, command }]);
        await journal.sync();
        latencies.push(performance.now() - t0);
      }
    };
    await Promise.all(Array.from({ length: writers }, writer));
    const seconds = (performance.now() - start) / 1000;
    const stats = journal.stats();
    await journal.close();
    latencies.sort((a, b) => a - b);
    const round = (x: number) => Math.round(x * 100) / 100;
    return {
      fsync: options.fsync,
      writers,
      entryBytes,
      appends: latencies.length,
      seconds: round(seconds),
      appendsPerSecond: Math.round(latencies.length / seconds),
      fsyncs: stats.fsyncs,
      rounds: stats.rounds,
      appendsPerRound: round(latencies.length / Math.max(1, stats.rounds)),
      latencyMs: {
        p50: round(percentile(latencies, 50)),
        p99: round(percentile(latencies, 99)),
        max: round(latencies[latencies.length - 1] ?? 0),
      },
      fileBytes: stats.fileBytes,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// `npx tsx bench/journal.ts` runs both policies
if (process.argv[1]?.endsWith('journal.ts') || process.argv[1]?.endsWith('journal.js')) {
  for (const fsync of ['always', 'never'] as const) {
    console.log(JSON.stringify(await benchJournal({ fsync })));
  }
}
