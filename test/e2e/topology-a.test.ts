/**
 * Topology A in `npm test`: 2 Patroni 3.0.2 nodes with PostgreSQL 15 and 1 `raftdcs controller`
 * witness, one shared cluster through every scenario of ./scenarios.ts.
 */
import { topologySuite } from './scenarios.js';

topologySuite({ topology: 'A', witness: 'raftdcs' });
