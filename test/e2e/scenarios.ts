/**
 * The end-to-end scenarios on one shared cluster of topology A (2 Patroni nodes + 1 witness) or B
 * (3 Patroni nodes + 2 witnesses: with one Patroni node down, every commit needs a witness), the
 * witnesses being `raftdcs controller`s or Debian's `patroni_raft_controller`s. In order:
 * bootstrap and replication; (topology A) `raftdcs ctl`'s REST commands side by side with patronictl
 * (./rest-commands.ts); `raftdcs ctl switchover` and `failover`; the primary's postmaster
 * killed; the primary's Patroni killed (and its orphaned PostgreSQL stopped); every Raft member
 * killed and restarted; a witness killed and restarted (no failover) — with `raftdcs ctl list`
 * compared with `patronictl list` in between. The step bodies are in ./steps.ts.
 */
import { describeE2e } from './env.js';
import { useSharedCluster } from './fixture.js';
import type { WitnessKind } from './node.js';
import { restCommands } from './rest-commands.js';
import {
  bootstrap,
  compareLists,
  killAndRestartWitness,
  killPrimaryPatroni,
  killPrimaryPostmaster,
  manualFailover,
  type Run,
  restartEveryMember,
} from './steps.js';

export interface TopologyOptions {
  readonly topology: 'A' | 'B';
  readonly witness: WitnessKind;
}

const TOPOLOGIES = {
  A: { nodes: 2, witnesses: 1 },
  B: { nodes: 3, witnesses: 2 },
} as const;

export function topologySuite(o: TopologyOptions): void {
  const shape = TOPOLOGIES[o.topology];
  const kind = o.witness === 'raftdcs' ? 'raftdcs controller' : 'patroni_raft_controller';
  const title = `e2e topology ${o.topology}: ${shape.nodes} Patroni 3.0.2 nodes + ${shape.witnesses} ${kind} witness(es)`;
  describeE2e(title, () => {
    const { step } = useSharedCluster({
      scope: `${o.topology.toLowerCase()}-${o.witness}`,
      nodes: shape.nodes,
      witnesses: Array.from({ length: shape.witnesses }, () => o.witness),
    });
    const run: Run = { label: { topology: o.topology, witness: o.witness }, healthy: null, nextRow: 1 };
    const compare = (when: string) =>
      step(`raftdcs ctl list equals patronictl list (${when})`, 120_000, (c) => compareLists(run, c, when));

    step('bootstraps; a table written on the primary appears on every replica', 240_000, (c) =>
      bootstrap(run, c),
    );
    compare('after the bootstrap');
    if (o.topology === 'A') {
      step(
        'ctl version, pause, resume, reload, flush, restart, reinit: as patronictl does them',
        600_000,
        (c) => restCommands(run, c),
      );
    }
    step('raftdcs ctl switchover: the candidate becomes master', 240_000, (c) =>
      manualFailover(run, c, 'switchover'),
    );
    step('raftdcs ctl failover: the candidate becomes master', 240_000, (c) =>
      manualFailover(run, c, 'failover'),
    );
    compare('after switchover and failover');
    step('primary postmaster SIGKILLed: a replica is promoted', 240_000, (c) =>
      killPrimaryPostmaster(run, c),
    );
    step("primary's Patroni SIGKILLed, its postgres stopped: a replica is promoted", 300_000, (c) =>
      killPrimaryPatroni(run, c),
    );
    compare('after the failovers');
    step('every Raft member killed and restarted: leader key and data kept', 240_000, (c) =>
      restartEveryMember(run, c),
    );
    compare('after restarting every member');
    step('a witness kill -9 and restart: no failover', 240_000, (c) => killAndRestartWitness(run, c));
  });
}
