/**
 * Membership entries whose node address the transport cannot use (a Python peer, or a utility
 * command, may append one): one real SyncObj on a loopback address, ticked by hand.
 */
import { describe, expect, it } from 'vitest';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { Counter, FAST, until } from './runtime-helpers.js';

describe('membership entries with an unusable address', () => {
  /*
   * ROBUSTNESS (cluster-wide crash loop from one request). The bug: a membership entry whose node
   * is not a valid `host:port` for the transport — e.g. `['add', '127.0.0.1:99999']` sent as a
   * utility command by anyone who can reach the port (the utility handler only checked `typeof
   * string`; SyncObj.membershipChange's regex /^.+:[0-9]+$/ accepted port 99999), or appended by a
   * Python leader (pysyncobj's TCPNode takes int(port) without a range check) — is appended and
   * applied on append on every node. onCoreEvent('membershipChanged') → syncTransportNodes →
   * TcpTransport.addNode → splitHostPort threw AddressError out of handleOutput/drain: from a
   * setImmediate drain that is an uncaught exception (process exit); here, through doTick, it
   * surfaces as a rejection. Every TS node that appended the entry died, and on restart start() →
   * syncTransportNodes(core.votingMembers) threw again: the node could not start until the log was
   * repaired by hand.
   *
   * The fix: SyncObj.membershipChange validates the address with splitHostPort (utility commands go
   * through it too), and syncTransportNodes catches a peer-supplied address the transport refuses (logged; the node
   * stays a member that nobody can reach).
   */
  it('a membership entry with an invalid port does not take the node down', async () => {
    const [self] = (await freeLoopbackAddresses(1)) as [string];
    const n = new Counter(self, [], { ...FAST, raftMinTimeout: 0.1, raftMaxTimeout: 0.15 });
    try {
      await n.waitBinded();
      await until(async () => {
        await n.doTick();
        return n.isLeader() && n.raftLastApplied >= 2;
      });
      void n.addNodeToCluster('127.0.0.1:99999').catch(() => undefined);
      const outcome = await n.doTick().then(
        () => 'ok',
        (err: unknown) => err,
      );
      expect(outcome).toBe('ok'); // before the fix: AddressError thrown out of the drain
    } finally {
      await n.destroy();
    }
  });
});
