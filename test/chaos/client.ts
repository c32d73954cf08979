/**
 * A chaos workload client: one process holding a read-only KVStoreTTL (a Raft node without a vote,
 * like a patronictl session) that runs inside a node's network namespace, so partitions and
 * crashes of that namespace reach it as they would reach a Patroni member there. The harness
 * drives it over stdin/stdout (JSON lines, never over the network under test) and timestamps every
 * operation itself.
 *
 * Each write reports what the history needs: the command bytes submitted (the checker decodes the
 * record and the CAS conditions from them), how many times the retry loop submitted it, and an
 * outcome that keeps "the store said no" apart from "we do not know":
 *   ok              the command was applied; `result` is what `_set` / `_delete` returned
 *   false           applied, and the condition failed at apply time (`_set` returned False)
 *   precheck-false  the local pre-check refused it; nothing was submitted
 *   unknown         the retry budget ran out, or a round failed for a reason other than success
 *
 * Usage: client.ts <partner,partner,...> (started by test/chaos/cluster.ts)
 */
import { createInterface } from 'node:readline';
import { KVStoreTTL, type KVStoreTTLOptions } from '../../src/kv/kvstore-ttl.js';
import type { CasConditions, KvRecord } from '../../src/kv/record.js';
import { FailReason } from '../../src/raft/core/types.js';
import type { ResultReason } from '../../src/raft/runtime/outcome.js';
import type { ResultCallback } from '../../src/raft/syncobj.js';
import type { PyValue } from '../../src/wire/value.js';

export interface ClientRequest {
  readonly id: number;
  readonly op: 'set' | 'delete' | 'get' | 'status' | 'quit';
  readonly key?: string;
  readonly value?: string;
  readonly ttl?: number;
  readonly cas?: CasConditions;
  /** retry budget, seconds */
  readonly timeout?: number;
}

export interface ClientReply {
  readonly id: number;
  readonly outcome: 'ok' | 'false' | 'precheck-false' | 'unknown' | 'error';
  /** set: the stored record; delete: true; get: the local record or null; status: the node's indexes */
  readonly result?: KvRecord | boolean | null | { commit: number; applied: number; leader: string | null };
  /** hex of the command the retry loop submitted (set / delete) */
  readonly command?: string;
  readonly rounds?: number;
  readonly error?: string;
}

interface Call {
  rounds: number;
  command: Uint8Array | null;
  timedOut: boolean;
  lastReason: ResultReason | null;
}

/** KVStoreTTL plus bookkeeping of the call in progress: its submissions and its command bytes. */
class RecordingStore extends KVStoreTTL {
  nextCall: Call | null = null;
  private submitting: Call | null = null;

  override retry(
    submit: (cb: ResultCallback) => void,
    timeoutSeconds?: number | null,
  ): Promise<PyValue | undefined | false> {
    const call = this.nextCall;
    this.nextCall = null;
    if (call === null) return super.retry(submit, timeoutSeconds);
    return super
      .retry((cb) => {
        call.rounds++;
        this.submitting = call;
        try {
          submit((result, reason) => {
            call.lastReason = reason;
            cb(result, reason);
          });
        } finally {
          this.submitting = null;
        }
      }, timeoutSeconds)
      .catch((e: unknown) => {
        call.timedOut = true;
        throw e;
      });
  }

  protected override submit(command: Uint8Array, cb: ResultCallback | null): void {
    const call = this.submitting;
    if (call !== null) call.command ??= command;
    super.submit(command, cb);
  }
}

const hex = (b: Uint8Array | null) => (b === null ? undefined : Buffer.from(b).toString('hex'));

async function handle(kv: RecordingStore, req: ClientRequest): Promise<ClientReply> {
  const key = req.key ?? '';
  if (req.op === 'get') return { id: req.id, outcome: 'ok', result: kv.get(key) };
  if (req.op === 'status') {
    return {
      id: req.id,
      outcome: 'ok',
      result: { commit: kv.raftCommitIndex, applied: kv.raftLastApplied, leader: kv.getLeader() },
    };
  }
  const call: Call = { rounds: 0, command: null, timedOut: false, lastReason: null };
  kv.nextCall = call;
  let result: KvRecord | boolean;
  try {
    if (req.op === 'set') {
      result = await kv.set(key, req.value ?? '', {
        ...req.cas,
        ttl: req.ttl,
        timeout: req.timeout,
        raiseOnRaftError: true,
      });
    } else {
      result = await kv.delete(key, { ...req.cas, timeout: req.timeout });
    }
  } catch (e) {
    kv.nextCall = null;
    if (call.timedOut || call.rounds > 0) {
      return { id: req.id, outcome: 'unknown', command: hex(call.command), rounds: call.rounds };
    }
    return { id: req.id, outcome: 'error', error: (e as Error).message };
  } finally {
    kv.nextCall = null;
  }
  const base = { id: req.id, command: hex(call.command), rounds: call.rounds };
  if (call.rounds === 0) return { ...base, outcome: 'precheck-false' };
  if (call.timedOut) return { ...base, outcome: 'unknown' };
  if (result === false) {
    // false with SUCCESS: the condition failed at apply time; any other reason: not known
    return { ...base, outcome: call.lastReason === FailReason.Success ? 'false' : 'unknown' };
  }
  return { ...base, outcome: 'ok', result };
}

async function main(): Promise<void> {
  const partners = (process.argv[2] ?? '').split(',').filter(Boolean);
  if (partners.length === 0) throw new Error('usage: client.ts <partner,partner,...>');
  const options: KVStoreTTLOptions = {
    selfAddr: null,
    partnerAddrs: partners,
    retryTimeout: 3,
    retryPauseMs: 200,
    conf: {
      appendEntriesPeriod: 0.1,
      raftMinTimeout: 0.6,
      raftMaxTimeout: 1.2,
      connectionTimeout: 1.5,
      connectionRetryTime: 0.3,
    },
  };
  const kv = new RecordingStore(options);
  const out = (r: ClientReply | { ready: true }) => process.stdout.write(`${JSON.stringify(r)}\n`);
  out({ ready: true });
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    let req: ClientRequest;
    try {
      req = JSON.parse(line) as ClientRequest;
    } catch {
      continue;
    }
    if (req.op === 'quit') break;
    // operations run concurrently; each answers when it completes
    handle(kv, req).then(out, (e: unknown) =>
      out({ id: req.id, outcome: 'error', error: (e as Error).message }),
    );
  }
  await kv.destroy();
  process.exit(0);
}

await main();
