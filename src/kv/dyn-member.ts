/**
 * Patroni's DynMemberSyncObj join flow (docs/dcs.md §5.1): before starting, ask the partners — in
 * the configured order — for the current membership (`['members']`); start with the reported
 * members (or the configured partners when nobody answers); if the cluster does not list us yet,
 * ask the node that answered to `['add', self]` in the background — and, unlike Patroni, retry with
 * backoff until a later `members` answer lists us. Never sends an add without an address.
 */
import type { Logger } from '../logger.js';
import { TcpUtility } from '../raft/transport/utility-client.js';
import type { PyValue } from '../wire/value.js';

export interface MembersAnswer {
  /** the node that answered */
  readonly from: string;
  /** the addresses of every voting member it reported (itself included) */
  readonly members: readonly string[];
}

/** The address list of a `members` reply, or null when the reply is not a list of {addr: str} dicts. */
export function parseMembersReply(reply: PyValue): string[] | null {
  if (!Array.isArray(reply) || reply.length === 0) return null;
  const out: string[] = [];
  for (const item of reply) {
    if (!(item instanceof Map)) return null;
    const addr = item.get('addr');
    if (typeof addr !== 'string') return null;
    out.push(addr);
  }
  return out;
}

export interface DiscoveryOptions {
  readonly password?: string | null;
  /** Patroni's retry_timeout (seconds): each partner gets retryTimeout / max(1, partners) */
  readonly retryTimeout: number;
  readonly logger?: Logger;
  /** injectable for tests */
  readonly utility?: Pick<TcpUtility, 'execute'>;
}

function utilityFor(partners: number, o: DiscoveryOptions): Pick<TcpUtility, 'execute'> {
  return (
    o.utility ??
    new TcpUtility({
      password: o.password ?? null,
      timeoutMs: (o.retryTimeout / Math.max(1, partners)) * 1000,
    })
  );
}

/** Ask each partner in turn for `members`; the first well-formed answer wins. */
export async function discoverMembers(
  partners: readonly string[],
  selfAddr: string | null,
  o: DiscoveryOptions,
): Promise<MembersAnswer | null> {
  const candidates = partners.filter((p) => p !== selfAddr);
  const utility = utilityFor(candidates.length, o);
  for (const p of candidates) {
    try {
      const members = parseMembersReply(await utility.execute(p, ['members']));
      if (members !== null) return { from: p, members };
      o.logger?.debug({ partner: p }, 'members: unusable answer');
    } catch (e) {
      o.logger?.debug({ partner: p, err: (e as Error).message }, 'members: no answer');
    }
  }
  return null;
}

export interface JoinOptions extends DiscoveryOptions {
  /** first pause between attempts (ms), doubled up to maxBackoffMs */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** give up after this long (ms); default: keep trying until stopped */
  readonly giveUpAfterMs?: number;
}

/**
 * Send `['add', selfAddr]` to `via` until a `members` answer (from any partner) lists `selfAddr`.
 * Resolves true once listed, false when stopped or after giveUpAfterMs.
 */
export function joinCluster(
  selfAddr: string,
  via: string,
  partners: readonly string[],
  o: JoinOptions,
): { readonly done: Promise<boolean>; stop(): void } {
  let stopped = false;
  let wake: (() => void) | null = null;
  const utility = utilityFor(partners.length, o);
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  const done = (async () => {
    const started = Date.now();
    let backoff = o.initialBackoffMs ?? 1000;
    const maxBackoff = o.maxBackoffMs ?? 15_000;
    let target = via;
    while (!stopped) {
      try {
        const reply = await utility.execute(target, ['add', selfAddr]);
        o.logger?.info(
          { via: target, reply: typeof reply === 'string' ? reply : 'non-string reply' },
          'asked to be added',
        );
      } catch (e) {
        o.logger?.warn({ via: target, err: (e as Error).message }, 'add request failed');
      }
      await sleep(Math.min(backoff, 2000));
      if (stopped) break;
      const answer = await discoverMembers([target, ...partners.filter((p) => p !== target)], selfAddr, {
        ...o,
        utility,
      });
      if (answer?.members.includes(selfAddr)) return true;
      if (answer) target = answer.from;
      if (o.giveUpAfterMs !== undefined && Date.now() - started > o.giveUpAfterMs) return false;
      await sleep(backoff);
      backoff = Math.min(maxBackoff, backoff * 2);
    }
    return false;
  })();
  return {
    done,
    stop() {
      stopped = true;
      wake?.();
    },
  };
}
