/**
 * Host name resolution with a cache, as pysyncobj's `DnsCachingResolver` (Patroni's `resolve_host`):
 * successes are kept for `cacheTimeMs`, failures for `failCacheTimeMs`; a failed refresh keeps the
 * previous addresses; IPv4 is preferred by default; one address is picked at random among the
 * results. IP literals are returned as they are.
 *
 * One resolver belongs to one transport (injectable; tests replace the lookup and the clock). This
 * module must never keep process-global state nor throw from resolve() (failure is `null`).
 */

import { promises as dnsPromises } from 'node:dns';
import { type Logger, silentLogger } from '../../logger.js';
import { isIpLiteral } from './address.js';

export type AddressFamilyPreference = 'ipv4' | 'ipv6' | null;

export interface ResolvedAddress {
  address: string;
  /** 4 or 6 */
  family: number;
}

/** What the transport needs: one IP for a host name, or null when it cannot be resolved. */
export interface HostResolver {
  resolve(host: string): Promise<string | null>;
  /** change the cache times, when the resolver caches */
  setTimeouts?(cacheTimeMs: number, failCacheTimeMs: number): void;
}

/** getaddrinfo(host) — all addresses. Rejects when the name does not resolve. */
export type LookupFn = (host: string) => Promise<readonly ResolvedAddress[]>;

export const systemLookup: LookupFn = (host) => dnsPromises.lookup(host, { all: true });

export interface CachingDnsResolverOptions {
  /** default 600000 (pysyncobj `dnsCacheTime`) */
  cacheTimeMs?: number;
  /** default 30000 (pysyncobj `dnsFailCacheTime`) */
  failCacheTimeMs?: number;
  /** default 'ipv4' */
  preferredFamily?: AddressFamilyPreference;
  lookup?: LookupFn;
  /** monotonic milliseconds */
  nowMs?: () => number;
  /** [0, 1) */
  random?: () => number;
  logger?: Logger;
}

interface CacheEntry {
  atMs: number;
  ips: readonly string[];
}

export class CachingDnsResolver implements HostResolver {
  #cacheTimeMs: number;
  #failCacheTimeMs: number;
  #preferred: AddressFamilyPreference;
  readonly #lookup: LookupFn;
  readonly #nowMs: () => number;
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #inflight = new Map<string, Promise<string | null>>();

  constructor(options: CachingDnsResolverOptions = {}) {
    this.#cacheTimeMs = options.cacheTimeMs ?? 600_000;
    this.#failCacheTimeMs = options.failCacheTimeMs ?? 30_000;
    this.#preferred = options.preferredFamily === undefined ? 'ipv4' : options.preferredFamily;
    this.#lookup = options.lookup ?? systemLookup;
    this.#nowMs = options.nowMs ?? (() => performance.now());
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger ?? silentLogger;
  }

  /** Patroni changes these at run time (`ttl`, `loop_wait`). */
  setTimeouts(cacheTimeMs: number, failCacheTimeMs: number): void {
    this.#cacheTimeMs = cacheTimeMs;
    this.#failCacheTimeMs = failCacheTimeMs;
  }

  setPreferredFamily(family: AddressFamilyPreference): void {
    this.#preferred = family;
  }

  /** Forget every cached answer. */
  clear(): void {
    this.#cache.clear();
  }

  /** Lookups currently running (destroy() of an owner may wait for them). */
  get pending(): Promise<unknown>[] {
    return [...this.#inflight.values()];
  }

  resolve(host: string): Promise<string | null> {
    if (isIpLiteral(host)) return Promise.resolve(host);
    const now = this.#nowMs();
    const entry = this.#cache.get(host);
    if (entry !== undefined) {
      const passed = now - entry.atMs;
      // pysyncobj refreshes when passed > cacheTime, or when the entry is a failure and passed > failCacheTime
      const fresh = passed <= this.#cacheTimeMs && (entry.ips.length > 0 || passed <= this.#failCacheTimeMs);
      if (fresh) return Promise.resolve(this.#pick(entry.ips));
    }
    const running = this.#inflight.get(host);
    if (running !== undefined) return running;
    const p = this.#refresh(host, entry?.ips ?? []).finally(() => this.#inflight.delete(host));
    this.#inflight.set(host, p);
    return p;
  }

  async #refresh(host: string, previous: readonly string[]): Promise<string | null> {
    let ips: string[] = [];
    let error: unknown;
    try {
      ips = this.#select(await this.#lookup(host));
    } catch (e) {
      error = e;
    }
    if (ips.length === 0) {
      this.#logger.warn(
        {
          host,
          err: error instanceof Error ? error.message : String(error ?? 'no addresses'),
          stale: previous,
        },
        'failed to resolve host name',
      );
      ips = [...previous];
    }
    this.#cache.set(host, { atMs: this.#nowMs(), ips });
    return this.#pick(ips);
  }

  #select(addrs: readonly ResolvedAddress[]): string[] {
    const want = this.#preferred === 'ipv4' ? 4 : this.#preferred === 'ipv6' ? 6 : 0;
    let ips = want ? unique(addrs.filter((a) => a.family === want)) : [];
    if (ips.length === 0) ips = unique(addrs);
    return ips;
  }

  #pick(ips: readonly string[]): string | null {
    if (ips.length === 0) return null;
    return ips[Math.min(ips.length - 1, Math.floor(this.#random() * ips.length))] ?? null;
  }
}

function unique(addrs: readonly ResolvedAddress[]): string[] {
  return [...new Set(addrs.map((a) => a.address))];
}
