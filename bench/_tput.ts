import { BenchCluster } from './cluster.js';

const c = new BenchCluster();
await c.init(3);
const leader = await c.start();
const L = c.nodes.get(leader)!;
await new Promise((r) => setTimeout(r, 500));
const r = await L.cmd(
  { op: 'load', prefix: '/bench/t', count: 1e9, secs: 6, inflight: 1000, valsize: 100, keyspace: 10000 },
  120_000,
);
console.log('leader', leader, 'ops/s', Math.round(r.ops_per_s as number));
const fol = [...c.nodes.values()].find((n) => n.addr !== leader)!;
const r2 = await fol.cmd(
  { op: 'load', prefix: '/bench/f', count: 1e9, secs: 4, inflight: 1000, valsize: 100, keyspace: 10000 },
  120_000,
);
console.log('follower', fol.addr, 'ops/s', Math.round(r2.ops_per_s as number));
await c.destroy();
