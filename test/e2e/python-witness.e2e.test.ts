/**
 * The scenarios of topologies A and B with Debian's `patroni_raft_controller` as the witnesses
 * (`npm run test:e2e` only): the same steps and bounds as with `raftdcs controller`, so the run's
 * closing table compares the two kinds of witness.
 */
import { topologySuite } from './scenarios.js';

topologySuite({ topology: 'A', witness: 'python' });
topologySuite({ topology: 'B', witness: 'python' });
