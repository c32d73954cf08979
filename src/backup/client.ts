/**
 * The client side of the backup commands (../raft/snapshot/utility-protocol.ts), for `raftdcs admin
 * -snapshot` and `-compact`:
 *
 * 1. the feature probe (`['status', 'raftdcs_features']`): a node that does not list the command is
 *    never sent it — pysyncobj and Patroni nodes do not know it, and an unknown utility command
 *    kills the Raft thread of a Patroni node (its transport raises inside the tick);
 * 2. `snapshot`, then `snapshot_chunk` until the dump is complete, its length and SHA-256 checked
 *    against what the node stated; or `compact`.
 *
 * One deadline covers every exchange. Failures are BackupClientError with a code and a message
 * that says what to do; nothing here writes a file.
 */
import { createHash } from 'node:crypto';
import { RaftdcsError } from '../errors.js';
import {
  COMPACT_COMMAND,
  type CompactionReport,
  chunkFromPy,
  compactionFromPy,
  FEATURES_ARGUMENT,
  featuresFromStatus,
  offerFromPy,
  SNAPSHOT_CHUNK_COMMAND,
  SNAPSHOT_COMMAND,
  type SnapshotOffer,
  SnapshotProtocolError,
} from '../raft/snapshot/utility-protocol.js';
import { TcpUtility, UtilityError, UtilityErrorCode } from '../raft/transport/utility-client.js';
import { Fernet } from '../wire/fernet.js';
import type { PyValue } from '../wire/value.js';

export const BackupClientCode = {
  /** no answer to the feature probe (connection refused, lost, timed out, wrong password) */
  Unreachable: 'BACKUP_NODE_UNREACHABLE',
  /** the node answers status but does not serve the command (pysyncobj, Patroni, older raftdcs) */
  NotServed: 'BACKUP_NOT_SERVED',
  /** the node took the command but did not answer it in time */
  NoAnswer: 'BACKUP_NO_ANSWER',
  /** the node answered `FAIL …` */
  Failed: 'BACKUP_FAILED',
  /** a reply of the wrong shape */
  BadReply: 'BACKUP_BAD_REPLY',
  /** the bytes received do not match the length or SHA-256 the node stated */
  ChecksumMismatch: 'BACKUP_CHECKSUM_MISMATCH',
} as const;
export type BackupClientCode = (typeof BackupClientCode)[keyof typeof BackupClientCode];

export class BackupClientError extends RaftdcsError<BackupClientCode> {
  override readonly name = 'BackupClientError';
  constructor(
    code: BackupClientCode,
    readonly address: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, `${code}: ${address}: ${message}`, options);
  }
}

export interface BackupClientOptions {
  readonly password: string | null;
  /** the deadline of the whole operation */
  readonly timeoutMs: number;
}

/** A snapshot as received: what the node stated, and the dump (gzip), checked against it. */
export interface ReceivedSnapshot {
  readonly offer: SnapshotOffer;
  readonly dumpGz: Uint8Array;
}

export class BackupClient {
  private readonly deadline: number;
  private fernet: Fernet | null = null;

  constructor(
    readonly address: string,
    private readonly options: BackupClientOptions,
  ) {
    this.deadline = performance.now() + options.timeoutMs;
  }

  /** Download a snapshot of the node's state (see the module comment). */
  async takeSnapshot(): Promise<ReceivedSnapshot> {
    await this.requireFeature(SNAPSHOT_COMMAND);
    const reply = await this.send([SNAPSHOT_COMMAND], SNAPSHOT_COMMAND);
    const { offer, first } = this.parse(reply, SNAPSHOT_COMMAND, offerFromPy);
    const parts: Uint8Array[] = [first.data];
    let offset = first.data.length;
    if (first.offset !== 0)
      this.badReply(SNAPSHOT_COMMAND, `the first chunk starts at ${first.offset}, not 0`);
    while (offset < offer.size) {
      const chunk = this.parse(
        await this.send([SNAPSHOT_CHUNK_COMMAND, offer.id, offset], SNAPSHOT_COMMAND),
        SNAPSHOT_CHUNK_COMMAND,
        chunkFromPy,
      );
      if (chunk.id !== offer.id || chunk.offset !== offset || chunk.data.length === 0) {
        this.badReply(
          SNAPSHOT_CHUNK_COMMAND,
          `asked for ${offer.id} at ${offset}, got ${chunk.data.length} bytes of ${chunk.id} at ${chunk.offset}`,
        );
      }
      parts.push(chunk.data);
      offset += chunk.data.length;
    }
    const dumpGz = Buffer.concat(parts);
    const sha256 = createHash('sha256').update(dumpGz).digest('hex');
    if (dumpGz.length !== offer.size || sha256 !== offer.sha256) {
      throw new BackupClientError(
        BackupClientCode.ChecksumMismatch,
        this.address,
        `received ${dumpGz.length} bytes with SHA-256 ${sha256}; the node stated ${offer.size} bytes with ` +
          `${offer.sha256}: the transfer was damaged, try again`,
      );
    }
    return { offer, dumpGz };
  }

  /** Ask the node to compact its log now. */
  async compact(): Promise<CompactionReport> {
    await this.requireFeature(COMPACT_COMMAND);
    return this.parse(await this.send([COMPACT_COMMAND], COMPACT_COMMAND), COMPACT_COMMAND, compactionFromPy);
  }

  private remainingMs(): number {
    return this.deadline - performance.now();
  }

  private async exchange(command: readonly PyValue[]): Promise<PyValue> {
    if (this.fernet === null && this.options.password !== null) {
      this.fernet = await Fernet.fromPasswordAsync(this.options.password);
    }
    const left = this.remainingMs();
    if (left <= 0) {
      throw new UtilityError(UtilityErrorCode.Timeout, this.address, 'the time given (-timeout) ran out');
    }
    return new TcpUtility({ fernet: this.fernet, timeoutMs: left }).execute(this.address, command);
  }

  /** The probe: refuse (NOT_SERVED) unless the node lists `command`. */
  private async requireFeature(command: string): Promise<void> {
    let reply: PyValue;
    try {
      reply = await this.exchange(['status', FEATURES_ARGUMENT]);
    } catch (e) {
      throw new BackupClientError(
        BackupClientCode.Unreachable,
        this.address,
        `no answer to status (${(e as Error).message}); is the address right, the node running, the password the cluster's?`,
        { cause: e },
      );
    }
    const features = featuresFromStatus(reply);
    if (features?.includes(command)) return;
    throw new BackupClientError(
      BackupClientCode.NotServed,
      this.address,
      features === null
        ? `the node does not serve the ${command} command: it answers status without listing raftdcs's backup ` +
            'commands, so it is a pysyncobj/Patroni node (or a raftdcs older than this one), which does not serve ' +
            `it. Nothing was sent: an unknown utility command stops a Patroni node's Raft thread. Ask a raftdcs ` +
            'member of the cluster instead (any member holds the whole state).'
        : `the node serves ${features.join(', ') || 'none of the backup commands'}, not ${command}`,
    );
  }

  /** Send a command the node serves; a timeout says the node did not answer it. */
  private async send(command: readonly PyValue[], what: string): Promise<PyValue> {
    try {
      return await this.exchange(command);
    } catch (e) {
      const timeout = e instanceof UtilityError && e.code === UtilityErrorCode.Timeout;
      throw new BackupClientError(
        BackupClientCode.NoAnswer,
        this.address,
        timeout
          ? `the node did not answer the ${what} command within ${this.options.timeoutMs / 1000} s: it may be a ` +
              'pysyncobj/Patroni node, which does not serve it, or its state takes longer to dump (raise -timeout)'
          : `the ${what} command got no answer: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  private parse<T>(reply: PyValue, command: string, parse: (v: PyValue) => T): T {
    if (typeof reply === 'string' && reply.startsWith('FAIL ')) {
      throw new BackupClientError(BackupClientCode.Failed, this.address, `the node answered: ${reply}`);
    }
    if (typeof reply === 'string' && reply.startsWith('unknown command')) {
      throw new BackupClientError(
        BackupClientCode.NotServed,
        this.address,
        `the node answered ${JSON.stringify(reply)}: it does not serve ${command}`,
      );
    }
    try {
      return parse(reply);
    } catch (e) {
      if (!(e instanceof SnapshotProtocolError)) throw e;
      return this.badReply(command, e.message);
    }
  }

  private badReply(command: string, why: string): never {
    throw new BackupClientError(
      BackupClientCode.BadReply,
      this.address,
      `unexpected ${command} reply: ${why}`,
    );
  }
}
