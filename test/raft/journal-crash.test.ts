/**
 * Durability smoke test with real processes: a child appends and syncs as fast as it can, printing
 * every acknowledged write; the parent kills it with SIGKILL at a random moment and reopens the
 * journal, which must hold every acknowledged entry (with its bytes) and term. Repeated on the same
 * file, so later runs also recover whatever tail the previous kill left; half the runs rewrite the
 * file often, so kills land during rewrites too.
 *
 * (A kill -9 loses what the process had not written yet; it cannot lose the page cache — power-loss
 * durability rests on the fdatasync ordering the group-commit tests check.)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { LogEntry } from '../../src/raft/core/types.js';
import { FileJournal } from '../../src/raft/journal/file-journal.js';
import { commandFor } from './journal-crash-child.js';
import { makeTempDirs, recordingLogger } from './journal-helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../..');
const tmp = makeTempDirs('journal-crash');
afterAll(() => tmp.cleanup());

interface RunResult {
  acked: number[];
  terms: number[];
  readyNext: number;
}

/** Run the child until `killAfterMs` after it is ready, then SIGKILL it. */
function runAndKill(path: string, killAfterMs: number, mode: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', join(here, 'journal-crash-child.ts'), path, mode],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const acked: number[] = [];
    const terms: number[] = [];
    let readyNext = -1;
    let buffered = '';
    let stderr = '';
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not get ready in time; stderr: ${stderr}`));
    }, 20_000);
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? ''; // a line cut by the kill was not printed whole: not counted
      for (const line of lines) {
        const [tag, n] = line.split(' ');
        if (tag === 'ready') {
          readyNext = Number(n);
          setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        } else if (tag === 'a') acked.push(Number(n));
        else if (tag === 'h') terms.push(Number(n));
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code}/${signal}: ${stderr}`));
      else resolve({ acked, terms, readyNext });
    });
  });
}

describe('durability across kill -9', () => {
  it('every acknowledged entry and term survives ~10 random kills', async () => {
    const seed = Number(process.env.CRASH_SEED ?? Date.now() % 100_000);
    let rnd = seed;
    const random = () => {
      rnd = (rnd * 1103515245 + 12345) % 2 ** 31;
      return rnd / 2 ** 31;
    };
    const runs = Number(process.env.CRASH_RUNS ?? 10);
    let totalAcked = 0;
    let tornTails = 0;
    const started = Date.now();
    // two files, each killed runs/2 times, the two chains side by side (2 cores)
    const chain = async (path: string, from: number, to: number): Promise<void> => {
      for (let run = from; run < to; run++) {
        const mode = run % 2 === 1 ? 'small-rewrites' : 'default';
        const killAfterMs = Math.floor(20 + random() * 300);
        const r = await runAndKill(path, killAfterMs, mode);
        const log = recordingLogger();
        const j = new FileJournal(path, { logger: log });
        const state = await j.open();
        await j.close();
        tornTails += log.lines.filter((l) => l.obj.tail !== undefined).length;
        const last = state.entries.at(-1) as LogEntry;
        const first = state.entries[0] as LogEntry;
        const context = `seed ${seed} (CRASH_SEED=${seed}), run ${run}, ${mode}, kill after ${killAfterMs} ms`;
        for (const index of r.acked) {
          expect(index, context).toBeLessThanOrEqual(last.index);
          if (index >= first.index) {
            const e = state.entries[index - first.index] as LogEntry;
            expect(e.index, context).toBe(index);
            expect(Buffer.from(e.command).equals(Buffer.from(commandFor(index))), context).toBe(true);
          }
        }
        if (r.terms.length > 0)
          expect(state.hardState.term, context).toBeGreaterThanOrEqual(Math.max(...r.terms));
        expect(r.readyNext, context).toBeGreaterThan(1);
        totalAcked += r.acked.length;
      }
    };
    const half = Math.ceil(runs / 2);
    await Promise.all([
      chain(`${tmp.dir()}/127.0.0.1:7000.journal`, 0, half),
      chain(`${tmp.dir()}/127.0.0.1:7001.journal`, half, runs),
    ]);
    console.log(
      `crash test: seed ${seed}, ${runs} kills, ${totalAcked} acknowledged writes checked, ${tornTails} tails cut, ${Date.now() - started} ms`,
    );
    expect(totalAcked).toBeGreaterThan(0);
  });
});
