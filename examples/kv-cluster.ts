import { KVStoreTTL, MemoryNetwork } from 'raftdcs';

// Three KVStoreTTL nodes in one process on an in-memory network (no sockets, no files). Give
// each node `selfAddr`/`partnerAddrs` of real hosts and drop `deps` to run them over TCP.
const network = new MemoryNetwork();
const addrs = ['10.0.0.1:2222', '10.0.0.2:2222', '10.0.0.3:2222'];
const node = (selfAddr: string) =>
  new KVStoreTTL({
    selfAddr,
    partnerAddrs: addrs.filter((a) => a !== selfAddr),
    deps: { transport: network.factory },
  });
const nodes = addrs.map(node);
await Promise.all(nodes.map((n) => n.waitReady()));

// Patroni's leader lock: take it only if nobody holds it, for 30 s; refresh it only while ours.
const [first, second] = nodes;
if (!first || !second) throw new Error('three nodes were made');
const lock = '/service/batman/leader';
console.log('pg1 takes the lock:', (await first.set(lock, 'pg1', { ttl: 30, prevExist: false })) !== false);
console.log('pg2 takes the lock:', (await second.set(lock, 'pg2', { ttl: 30, prevExist: false })) !== false);
console.log('pg1 refreshes it:', (await first.set(lock, 'pg1', { ttl: 30, prevValue: 'pg1' })) !== false);

// Every node applies the same writes in the same order.
const applied = first.raftLastApplied;
for (let i = 0; i < 100 && nodes.some((n) => n.raftLastApplied < applied); i++) {
  await new Promise((resolve) => setTimeout(resolve, 10));
}
console.log('the lock on each node:', nodes.map((n) => n.get(lock)?.value).join(', '));
await Promise.all(nodes.map((n) => n.destroy()));
