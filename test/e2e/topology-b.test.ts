/**
 * Topology B in `npm test`: 3 Patroni 3.0.2 nodes with PostgreSQL 15 and 2 `raftdcs controller`
 * witnesses (5 Raft members: with one Patroni node down, every commit needs a witness's vote), one
 * shared cluster through every scenario of ./scenarios.ts.
 */
import { topologySuite } from './scenarios.js';

topologySuite({ topology: 'B', witness: 'raftdcs' });
