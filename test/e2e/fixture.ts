/**
 * One bootstrapped cluster shared by the ordered steps of a `describe`: created on first use,
 * destroyed in afterAll (also when a step failed). A step that fails prints the tail of every log
 * file of the cluster, and the steps after it are skipped with the reason — they would run on a
 * cluster in an unknown state.
 */
import { afterAll, it } from 'vitest';
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
        await fn(c);
      });
    },
  };
}
