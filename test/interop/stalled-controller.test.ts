/**
 * A controller stopped (SIGSTOP) for longer than its connection_timeout while a client keeps
 * writing: every write the client was told failed must stay failed after SIGCONT. The client's
 * apply_command frames sit in the stopped controller's socket buffers; pysyncobj drops a connection
 * whose last read is older than connectionTimeout before it reads from it, and so must we — else
 * the failed writes are applied when the controller resumes (a demoted Patroni primary's failed
 * leader-lock refreshes extended its lock by a TTL).
 *
 * The controller is `raftdcs controller` as operators run it (a child process from the sources);
 * the clients are Patroni 3.0.2's own KVStoreTTL in Python (a peer that never pings) and our
 * KVStoreTTL (a peer that pings), both read-only nodes forwarding their writes to the controller.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import { eventually, type Proc, useProcesses } from '../cli/cli-process.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { describePython, PYTHON } from '../helpers/python.js';

const CLIENT_PY = fileURLToPath(new URL('./py/patroni_kv_client.py', import.meta.url));

/** The controller's connection_timeout, seconds; the stall below lasts about twice as long. */
const CONNECTION_TIMEOUT = 1;

const procs = useProcesses();
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A client of the controller: writes with a retry budget, reads its own applied state. */
interface Client {
  set(key: string, value: string, timeoutSeconds: number): Promise<boolean>;
  get(key: string): Promise<string | null>;
}

/** Patroni's KVStoreTTL in Python, driven by JSON lines (test/interop/py/patroni_kv_client.py). */
async function pythonClient(partner: string): Promise<Client> {
  const child = spawn(PYTHON, [CLIENT_PY, '--partners', partner, '--log-level', 'DEBUG'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  }) as ChildProcessWithoutNullStreams;
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  cleanups.push(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(JSON.parse(line) as Record<string, unknown>);
    for (const w of waiters.splice(0)) w();
  });
  const next = async (pred: (l: Record<string, unknown>) => boolean, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = lines.findIndex(pred);
      if (i >= 0) return lines.splice(i, 1)[0] as Record<string, unknown>;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`python client: no ${what} within ${timeoutMs} ms\n${stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  };
  let id = 0;
  const call = async (req: Record<string, unknown>, timeoutMs: number) => {
    const rid = ++id;
    child.stdin.write(`${JSON.stringify({ ...req, id: rid })}\n`);
    return next((l) => l.id === rid, timeoutMs, `reply to ${JSON.stringify(req)}`);
  };
  await next((l) => l.event === 'ready', 20_000, 'ready event');
  return {
    set: async (k, v, timeout) =>
      (await call({ cmd: 'set', k, v, timeout }, timeout * 1000 + 10_000)).result === true,
    get: async (k) => (await call({ cmd: 'get', k }, 10_000)).value as string | null,
  };
}

/** Our KVStoreTTL, read-only, in this process. */
async function tsClient(partner: string): Promise<Client> {
  const kv = await KVStoreTTL.open({ selfAddr: null, partnerAddrs: [partner], retryTimeout: 10 });
  cleanups.push(() => kv.destroy());
  await eventually(() => (kv.isReady() ? true : undefined), 20_000, 'the TS client to be ready');
  return {
    set: async (k, v, timeout) => (await kv.set(k, v, { timeout })) !== false,
    get: async (k) => kv.get(k)?.value ?? null,
  };
}

async function status(http: string): Promise<Record<string, unknown>> {
  const r = await fetch(`http://${http}/status`);
  return (await r.json()) as Record<string, unknown>;
}

async function startController(): Promise<{ ctl: Proc; self: string; http: string }> {
  const [self, http] = (await freeLoopbackAddresses(2)) as [string, string];
  const dir = procs.dir();
  const config = join(dir, 'patroni.yml');
  writeFileSync(
    config,
    [
      'scope: batman',
      'name: ctl',
      'raft:',
      `  self_addr: ${self}`,
      `  data_dir: ${join(dir, 'raft')}`,
      '  append_entries_period: 0.05',
      '  min_timeout: 0.2',
      '  max_timeout: 0.4',
      `  connection_timeout: ${CONNECTION_TIMEOUT}`,
      '  connection_retry_time: 0.5',
      'raftdcs:',
      `  http: ${http}`,
      '',
    ].join('\n'),
  );
  const ctl = procs.raftdcs(['controller', config, '--log-level', 'DEBUG']);
  await eventually(
    async () => ((await status(http)).role === 'leader' ? true : undefined),
    20_000,
    'the controller to be leader',
  );
  return { ctl, self, http };
}

describePython(
  'a controller stopped longer than connection_timeout applies no write its client saw fail',
  () => {
    it.each([
      ['Patroni KVStoreTTL in Python (never pings)', pythonClient],
      ['our KVStoreTTL (pings)', tsClient],
    ] as const)('%s', { timeout: 60_000 }, async (_name, makeClient) => {
      const { ctl, self, http } = await startController();
      const client = await makeClient(self);
      expect(await client.set('/s/before', 'b', 10)).toBe(true);

      ctl.signal('SIGSTOP');
      let resumed = false;
      cleanups.push(async () => {
        if (!resumed) ctl.signal('SIGCONT');
      });
      const t0 = performance.now();
      // each write is forwarded to the stopped leader and times out after a second: reported failed
      const failed = ['/s/stalled-1', '/s/stalled-2'];
      for (const k of failed) expect(await client.set(k, 'lost', 1)).toBe(false);
      const stalledMs = performance.now() - t0;
      expect(stalledMs).toBeGreaterThan(CONNECTION_TIMEOUT * 1000 * 1.5);
      ctl.signal('SIGCONT');
      resumed = true;

      // the controller serves again once the client reconnected (a write sent on the old connection
      // before the controller resumed goes down with it: it fails by timeout, as with pysyncobj)
      await eventually(
        async () => ((await client.set('/s/after', 'a', 2)) ? true : undefined),
        30_000,
        'a write after the stall to succeed',
      );
      // the client applied everything up to '/s/after': the failed writes are not in the log before it
      expect(await client.get('/s/before')).toBe('b');
      expect(await client.get('/s/after')).toBe('a');
      for (const k of failed) expect(await client.get(k), k).toBeNull();
      // nor in the controller's state (the HTTP endpoint counts its keys)
      expect((await status(http)).kv_keys).toBe(2);
      // it dropped the client's connection unread, and said why
      const dropped = ctl.logs().find((l) => typeof l.reason === 'string' && l.reason.startsWith('stale: '));
      expect(dropped, ctl.stderr().slice(-4000)).toBeDefined();
      expect(dropped?.level).toBe(40); // warn
    });
  },
);
