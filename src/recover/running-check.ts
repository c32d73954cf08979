/**
 * Is the node whose files `raftdcs recover` is about to rewrite running? Two signs, either one is a
 * refusal: its advisory lock (../cli/node-lock.ts) names a live process — or was written on another
 * host, which cannot be checked from here — and something accepts TCP connections on its self_addr
 * (a controller, or a Patroni/pysyncobj node, which takes no lock).
 *
 * Read-only: it only reads the lock file and opens (and at once closes) one connection.
 */
import { connect } from 'node:net';
import { describeLock, inspectNodeLock, type LockState } from '../cli/node-lock.js';
import { splitHostPort } from '../raft/transport/address.js';
import { RecoverRefusal, RecoverRefusalCode } from './errors.js';

export type PortProbe = 'listening' | 'refused' | 'no answer';

/** Try a TCP connection to `address` within `timeoutMs`. */
export function probePort(address: string, timeoutMs: number): Promise<PortProbe> {
  const { host, port } = splitHostPort(address);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let done = false;
    const finish = (result: PortProbe) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish('no answer'), timeoutMs);
    socket.once('connect', () => finish('listening'));
    socket.once('error', (e: NodeJS.ErrnoException) =>
      finish(e.code === 'ECONNREFUSED' ? 'refused' : 'no answer'),
    );
  });
}

export interface RunningCheck {
  readonly lock: LockState;
  readonly port: PortProbe;
}

/** What the lock and self_addr say (no judgement). */
export async function inspectRunning(
  selfAddr: string,
  lockPath: string,
  timeoutMs: number,
): Promise<RunningCheck> {
  const [lock, port] = await Promise.all([inspectNodeLock(lockPath), probePort(selfAddr, timeoutMs)]);
  return { lock, port };
}

/** RecoverRefusal(NODE_RUNNING) unless the node is stopped. */
export async function ensureStopped(selfAddr: string, lockPath: string, timeoutMs: number): Promise<void> {
  const { lock, port } = await inspectRunning(selfAddr, lockPath, timeoutMs);
  const signs: string[] = [];
  if (lock.kind === 'held' || lock.kind === 'foreign') signs.push(`the lock ${describeLock(lockPath, lock)}`);
  if (port === 'listening') {
    signs.push(`something accepts connections on self_addr ${selfAddr} (a controller or a Patroni node?)`);
  }
  if (signs.length === 0) return;
  throw new RecoverRefusal(
    RecoverRefusalCode.NodeRunning,
    `the node ${selfAddr} is running: ${signs.join('; ')}. Stop it first (the files must not change ` +
      'while they are rewritten).',
  );
}
