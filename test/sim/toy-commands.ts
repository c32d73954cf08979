/**
 * Toy command encodings for tests that drive RaftCore directly (the core treats commands as
 * opaque bytes): REGULAR = 0x00 + "c<id>", MEMBERSHIP = 0x02 + "add <id>" / "rem <id>". The
 * simulator itself runs real SyncObj nodes with real pickled commands.
 */
import { CommandType, type MembershipChange } from '../../src/raft/core/types.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export function simCommand(id: number): Uint8Array {
  const body = enc.encode(`c${id}`);
  const out = new Uint8Array(body.length + 1);
  out[0] = CommandType.Regular;
  out.set(body, 1);
  return out;
}

export function simMembershipCommand(change: MembershipChange): Uint8Array {
  const body = enc.encode(`${change.op} ${change.node}`);
  const out = new Uint8Array(body.length + 1);
  out[0] = CommandType.Membership;
  out.set(body, 1);
  return out;
}

export function decodeSimMembership(command: Uint8Array): MembershipChange | null {
  if (command[0] !== CommandType.Membership) return null;
  const [op, node] = dec.decode(command.subarray(1)).split(' ');
  if ((op !== 'add' && op !== 'rem') || !node) return null;
  return { op, node };
}
