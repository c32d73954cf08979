/**
 * A read-only node (patronictl, `raftdcs ctl`) keeps connecting to every partner it was configured
 * with, whatever membership its log has reached: a voter added after that point may be the leader,
 * and it never dials a read-only node (which has no address). Found by the simulator: a read-only
 * node never caught up with a leader added while it was behind.
 */
import { describe, expect, it } from 'vitest';
import { encodeMembership } from '../../src/raft/commands.js';
import type { PeerId } from '../../src/raft/transport/types.js';
import { ae, Counter, FAST, ScriptedTransport, turns } from './runtime-helpers.js';

class RecordingTransport extends ScriptedTransport {
  readonly nodes = new Set<string>();
  override addNode(address: PeerId): void {
    this.nodes.add(address);
  }
  override dropNode(address: PeerId): void {
    this.nodes.delete(address);
  }
}

async function afterRemovingC(self: string | null) {
  const t = new RecordingTransport();
  const partners = ['a:1', 'b:1', 'c:1'];
  const n = new Counter(self, partners, FAST, { deps: { transport: t.factory } });
  await n.waitBinded();
  t.connect('a:1');
  const rem = { command: encodeMembership({ op: 'rem', node: 'c:1' }), index: 2, term: 1 };
  t.deliver('a:1', ae(1, 1, 0, [rem], 2));
  await turns(5);
  const nodes = [...t.nodes].sort();
  await n.destroy();
  return nodes;
}

describe('read-only nodes and their configured partners', () => {
  it('a read-only node keeps a partner the log removed', async () => {
    expect(await afterRemovingC(null)).toEqual(['a:1', 'b:1', 'c:1']);
  });

  it('a voter drops it (control)', async () => {
    expect(await afterRemovingC('d:1')).toEqual(['a:1', 'b:1']);
  });
});
