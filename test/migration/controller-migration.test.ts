/**
 * Migration in place: a Debian `patroni_raft_controller` (pysyncobj 0.3.11 FileJournal + dump)
 * holds keys and stops; a raftdcs node started on its data_dir with the same self_addr serves the
 * same keys — records, indexes and timestamps — and keeps the Python files as backups.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import type { KvRecord } from '../../src/kv/record.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { describePython } from '../helpers/python.js';
import { waitFor } from '../helpers/wait.js';

const FAST = {
  appendEntriesPeriod: 0.05,
  raftMinTimeout: 0.2,
  raftMaxTimeout: 0.4,
  connectionTimeout: 1,
  connectionRetryTime: 0.2,
};

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function startController(configPath: string, logs: string[]): ChildProcess {
  const p = spawn('/usr/bin/patroni_raft_controller', [configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
  p.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  return p;
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

describePython('migration from patroni_raft_controller', () => {
  for (const compacted of [false, true]) {
    it(`serves the keys a Python controller wrote (${compacted ? 'after a dump' : 'journal only'})`, {
      timeout: 120_000,
    }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'raftdcs-migrate-'));
      cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
      const [self] = await freeLoopbackAddresses(1);
      const dataDir = join(dir, 'raft');
      const config = join(dir, 'patroni.yml');
      writeFileSync(config, `raft:\n  self_addr: '${self}'\n  partner_addrs: []\n  data_dir: ${dataDir}\n`);
      const logs: string[] = [];
      const controller = startController(config, logs);
      cleanup.push(() => stop(controller));
      // a raftdcs read-only client writes through the Python controller (the leader)
      const client = new KVStoreTTL({ selfAddr: null, partnerAddrs: [self!], retryTimeout: 5, conf: FAST });
      cleanup.push(() => client.destroy());
      await waitFor(() => client.getLeader() === self, 30_000, `the controller to lead\n${logs.join('')}`);
      // pysyncobj makes a dump once its log holds more than 5000 entries
      const n = compacted ? 5200 : 25;
      for (let i = 0; i < n; i += 200) {
        const batch = [];
        for (let j = i; j < Math.min(n, i + 200); j++) {
          batch.push(
            client.set(`/service/batman/members/m${j}`, `{"i":${j}}`, {
              ttl: j % 3 === 0 ? 3600 : undefined,
            }),
          );
        }
        for (const r of await Promise.all(batch)) expect(r).not.toBe(false);
      }
      expect(await client.set('/service/batman/config', '{"ttl":30}', { prevIndex: null })).not.toBe(false);
      expect(await client.delete('/service/batman/members/m1')).toBe(true);
      await waitFor(
        () =>
          client.raftLastApplied >= client.raftCommitIndex && client.get('/service/batman/config') !== null,
        10_000,
      );
      const expected = client.getPrefix('/');
      await client.destroy();
      const files = journalPaths(dataDir, self!);
      if (compacted) await waitFor(() => existsSync(files.dump), 30_000, 'the controller to write its dump');
      await stop(controller);
      expect(existsSync(files.journal)).toBe(true);
      // raftdcs on the same data dir, same address
      const ts = new KVStoreTTL({
        selfAddr: self!,
        partnerAddrs: [],
        conf: { ...FAST, bindAddress: self!, journalFile: files.journal, fullDumpFile: files.dump },
      });
      cleanup.push(() => ts.destroy());
      await waitFor(() => ts.appliedLocalLog || ts.isLeader(), 20_000, 'the migrated node to apply its log');
      // every key there (the dump may already hold as many keys as the end state: wait for the
      // journal's tail, not for a count)
      await waitFor(
        () => ts.size === expected.size && [...expected.keys()].every((k) => ts.get(k) !== null),
        20_000,
        'all keys',
      );
      const got = ts.getPrefix('/');
      expect([...got.keys()]).toEqual([...expected.keys()]);
      for (const [k, v] of expected) expect(got.get(k), k).toEqual(v as KvRecord);
      expect(readdirSync(dataDir).some((f) => f.endsWith('.pysyncobj-backup'))).toBe(true);
      // and it keeps working as the new leader
      await waitFor(() => ts.isLeader(), 20_000);
      expect(await ts.set('/service/batman/after', 'x')).not.toBe(false);
    });
  }
});
