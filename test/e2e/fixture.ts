/**
 * One bootstrapped cluster shared by the ordered steps of a `describe`: created on first use,
 * destroyed in afterAll (also when a step failed). A step that fails prints the tail of every log
 * file of the cluster, and the steps after it are skipped with the reason — they would run on a
 * cluster in an unknown state.
 *
 * One failure is not ours to fail on: when every witness is Debian's `patroni_raft_controller`, all
 * Raft members run pysyncobj 0.3.11, and a Patroni node's pysyncobj tick thread dying on its own
 * assertion (`PysyncobjDied`: it forgets its term across restarts) is reported loudly as an
 * expected Python-side failure, and that step and the later ones are skipped — as the chaos
 * campaigns treat Python-side safety failures. With a raftdcs witness it fails the step.
 */
import { afterAll, it } from 'vitest';
import { PysyncobjDied } from './checks.js';
import { type ClusterSpec, E2eCluster } from './harness.js';

export interface SharedCluster {
  /** the cluster (created by the first step that runs) */
  get(): Promise<E2eCluster>;
  /** an ordered step on the shared cluster */
  step(name: string, timeoutMs: number, fn: (c: E2eCluster) => Promise<void>): void;
}

export function useSharedCluster(spec: ClusterSpec): SharedCluster {
  let cluster: E2eCluster | null = null;
  let failed: string | null = null;
  afterAll(async () => {
    await cluster?.destroy();
  }, 60_000);
  const get = async () => {
    cluster ??= await E2eCluster.create(spec);
    return cluster;
  };
  return {
    get,
    step(name, timeoutMs, fn) {
      it(name, { timeout: timeoutMs }, async (ctx) => {
        if (failed !== null) {
          ctx.skip(`the earlier step "${failed}" failed: the shared cluster is in an unknown state`);
          return;
        }
        const c = await get();
        ctx.onTestFailed(() => {
          failed = name;
          console.error(
            `[e2e] step "${name}" failed; cluster directory ${c.dir}; log tails:\n${c.logTails()}`,
          );
        });
        try {
          await fn(c);
        } catch (e) {
          // with Python witnesses only, every Raft member is pysyncobj: its known weakness, not ours
          if (!(e instanceof PysyncobjDied) || !c.witnesses.every((w) => w.kind === 'python')) throw e;
          failed = `${name}: expected Python-side failure`;
          const why = `EXPECTED PYTHON-SIDE FAILURE (every Raft member runs pysyncobj 0.3.11): ${e.message}`;
          console.warn(`[e2e] step "${name}": ${why}\nlog tails:\n${c.logTails()}`);
          ctx.skip(why);
        }
      });
    },
  };
}
