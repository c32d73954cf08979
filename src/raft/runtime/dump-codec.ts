/**
 * The dump codec seam: turning the state machine's dump into the gzip bytes pysyncobj writes and
 * sends (spec'd in snapshot/dump.ts), and back. Both directions are asynchronous in production
 * (gzip runs in libuv's pool, the pickle is produced in batches with the event loop free between
 * them); the simulator substitutes a codec whose completions are events with their own latency.
 */
import { type Dump, decodeDump, encodeDumpChunks } from '../snapshot/dump.js';
import { gzipChunks } from '../snapshot/dump-store.js';

export interface DumpCodec {
  encode(dump: Dump): Promise<Uint8Array>;
  decode(gz: Uint8Array): Promise<Dump>;
}

export const realDumpCodec: DumpCodec = {
  encode: (dump) => gzipChunks(encodeDumpChunks(dump)),
  decode: (gz) => decodeDump(gz),
};
