/**
 * Child process of journal-crash.test.ts: opens the journal at argv[2] and lets concurrent writers
 * append (and sometimes raise the term) as fast as the journal acknowledges, printing each
 * acknowledged write on stdout only after its sync() resolved — until the parent kills it (-9).
 *
 * Output lines: `ready <next index>`, `a <index>` (entry durable), `h <term>` (hard state durable).
 * Entry i's command is derived from i alone, so the parent can check the bytes.
 */
import { FileJournal } from '../../src/raft/journal/file-journal.js';

export function commandFor(index: number): Uint8Array {
  const size = 1 + ((index * 2654435761) % 3001);
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = (index + i * 31) & 0xff;
  return b;
}

async function main(): Promise<void> {
  const path = process.argv[2] as string;
  const smallRewrites = process.argv[3] === 'small-rewrites';
  const journal = new FileJournal(
    path,
    smallRewrites ? { rewriteMinDeadBytes: 64 * 1024, rewriteDeadRatio: 0.5 } : {},
  );
  const state = await journal.open();
  let next = (state.entries.at(-1)?.index ?? 1) + 1;
  let term = state.hardState.term;
  const out = (line: string): void => {
    process.stdout.write(`${line}\n`); // synchronous for pipes on Linux
  };
  out(`ready ${next}`);
  const writer = async (w: number): Promise<never> => {
    for (;;) {
      const index = next++;
      journal.append([{ index, term: Math.max(term, 1), command: commandFor(index) }]);
      let raised: number | null = null;
      if (w === 0 && index % 37 === 0) {
        raised = ++term;
        journal.writeHardState({ term: raised, votedFor: `node-${raised}` });
      }
      journal.setCommitIndex(Math.max(1, index - 5));
      if (smallRewrites && index % 11 === 0) journal.compact(Math.max(1, index - 20));
      await journal.sync();
      out(`a ${index}`);
      if (raised !== null) out(`h ${raised}`);
    }
  };
  await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(writer));
}

if (process.argv[1]?.endsWith('journal-crash-child.ts')) {
  main().catch((e: unknown) => {
    process.stderr.write(`child failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
