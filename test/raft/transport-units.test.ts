/**
 * The transport's pure parts: address rules (split, code-point order, listen address), the cached
 * DNS resolver (with an injected lookup and clock), pysyncobj's utility reply rules, and the
 * transport connecting through a host name via its own resolver.
 */

import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/logger.js';
import {
  AddressError,
  compareAddresses,
  listenAddress,
  shouldConnect,
  splitHostPort,
} from '../../src/raft/transport/address.js';
import { CachingDnsResolver, type LookupFn, type ResolvedAddress } from '../../src/raft/transport/dns.js';
import { isPing } from '../../src/raft/transport/options.js';
import { checkUtilityRequest, formatUtilityResult } from '../../src/raft/transport/utility.js';
import { dict, float, tcpNode, tuple } from '../../src/wire/value.js';
import { freePort, Nodes } from './transport-helpers.js';

describe('addresses', () => {
  it('splits at the last colon like rsplit(":", 1)', () => {
    expect(splitHostPort('127.0.0.1:2222')).toEqual({ host: '127.0.0.1', port: 2222 });
    expect(splitHostPort('::1:5000')).toEqual({ host: '::1', port: 5000 });
    expect(splitHostPort('[::1]:5000')).toEqual({ host: '::1', port: 5000 });
    expect(splitHostPort('node-a.example:8008')).toEqual({ host: 'node-a.example', port: 8008 });
    for (const bad of ['nocolon', 'h:', 'h:x1', 'h:70000', ':80', 'h:-1']) {
      expect(() => splitHostPort(bad), bad).toThrow(AddressError);
    }
  });

  it('compares by code points as Python does (not UTF-16 units)', () => {
    expect(compareAddresses('b:1', 'a:1')).toBe(1);
    expect(compareAddresses('127.0.0.1:2', '127.0.0.1:10')).toBe(1); // string, not numeric order
    expect(compareAddresses('a', 'ab')).toBe(-1);
    expect(compareAddresses('x', 'x')).toBe(0);
    // U+1F600 (astral) > U+FF5E in Python; JavaScript's < says the opposite
    expect('\u{1F600}' < '\uFF5E').toBe(true);
    expect(compareAddresses('\u{1F600}', '\uFF5E')).toBe(1);
    expect(shouldConnect('127.0.0.1:2', '127.0.0.1:10')).toBe(true);
    expect(shouldConnect('127.0.0.1:10', '127.0.0.1:2')).toBe(false);
    expect(shouldConnect(null, '127.0.0.1:10')).toBe(true);
  });

  it('listens where pysyncobj does, unless told otherwise', () => {
    expect(listenAddress('10.0.0.1:5000', null, null)).toEqual({ host: '0.0.0.0', port: 5000 });
    expect(listenAddress('::1:5000', null, null)).toEqual({ host: '::', port: 5000 });
    expect(listenAddress('10.0.0.1:5000', '192.168.1.1:6000', null)).toEqual({
      host: '192.168.1.1',
      port: 6000,
    });
    expect(listenAddress('10.0.0.1:5000', null, '127.0.0.1')).toEqual({ host: '127.0.0.1', port: 5000 });
  });

  it('a pino logger is a Logger', () => {
    const logger: Logger = pino({ level: 'silent' });
    expect(() => logger.warn({ peer: 'a:1' }, 'x')).not.toThrow();
  });

  it('recognises pings', () => {
    expect(isPing(dict({ type: 'raftdcs_ping' }))).toBe(true);
    expect(isPing(dict({ type: 'request_vote' }))).toBe(false);
    expect(isPing('raftdcs_ping')).toBe(false);
  });
});

describe('CachingDnsResolver', () => {
  function fakeLookup(table: Record<string, ResolvedAddress[] | Error>): LookupFn & { calls: string[] } {
    const calls: string[] = [];
    const fn = async (host: string): Promise<readonly ResolvedAddress[]> => {
      calls.push(host);
      const r = table[host];
      if (r === undefined) throw new Error(`ENOTFOUND ${host}`);
      if (r instanceof Error) throw r;
      return r;
    };
    return Object.assign(fn, { calls });
  }
  const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });
  const v6 = (address: string): ResolvedAddress => ({ address, family: 6 });

  it('caches successes for cacheTimeMs and failures for failCacheTimeMs', async () => {
    let now = 0;
    const table: Record<string, ResolvedAddress[] | Error> = { a: [v4('10.0.0.1')] };
    const lookup = fakeLookup(table);
    const r = new CachingDnsResolver({ cacheTimeMs: 1000, failCacheTimeMs: 100, lookup, nowMs: () => now });
    expect(await r.resolve('a')).toBe('10.0.0.1');
    now = 999;
    table.a = [v4('10.0.0.2')];
    expect(await r.resolve('a')).toBe('10.0.0.1'); // cached
    now = 1001;
    expect(await r.resolve('a')).toBe('10.0.0.2'); // refreshed
    expect(lookup.calls).toEqual(['a', 'a']);

    expect(await r.resolve('b')).toBeNull();
    now = 1050;
    expect(await r.resolve('b')).toBeNull(); // failure cached
    expect(lookup.calls.filter((h) => h === 'b').length).toBe(1);
    now = 1102;
    table.b = [v4('10.0.0.3')];
    expect(await r.resolve('b')).toBe('10.0.0.3');
  });

  it('keeps the previous addresses when a refresh fails (as pysyncobj)', async () => {
    let now = 0;
    const table: Record<string, ResolvedAddress[] | Error> = { a: [v4('10.0.0.1')] };
    const r = new CachingDnsResolver({ cacheTimeMs: 10, lookup: fakeLookup(table), nowMs: () => now });
    expect(await r.resolve('a')).toBe('10.0.0.1');
    table.a = new Error('SERVFAIL');
    now = 20;
    expect(await r.resolve('a')).toBe('10.0.0.1');
  });

  it('prefers IPv4 by default; ipv6 and null are honoured; falls back to any family', async () => {
    const table = { dual: [v6('::1'), v4('127.0.0.1')], only6: [v6('fe80::1')] };
    const mk = (preferredFamily: 'ipv4' | 'ipv6' | null) =>
      new CachingDnsResolver({ lookup: fakeLookup(table), preferredFamily, random: () => 0 });
    expect(await mk('ipv4').resolve('dual')).toBe('127.0.0.1');
    expect(await mk('ipv6').resolve('dual')).toBe('::1');
    expect(await mk(null).resolve('dual')).toBe('::1');
    expect(await mk('ipv4').resolve('only6')).toBe('fe80::1');
  });

  it('passes IP literals through, shares concurrent lookups, picks at random among addresses', async () => {
    const lookup = fakeLookup({ multi: [v4('10.0.0.1'), v4('10.0.0.2'), v4('10.0.0.1')] });
    let x = 0.99;
    const r = new CachingDnsResolver({ lookup, random: () => x });
    expect(await r.resolve('192.168.0.1')).toBe('192.168.0.1');
    expect(await r.resolve('::1')).toBe('::1');
    const [p, q] = await Promise.all([r.resolve('multi'), r.resolve('multi')]);
    expect(p).toBe('10.0.0.2');
    expect(q).toBe('10.0.0.2');
    x = 0;
    expect(await r.resolve('multi')).toBe('10.0.0.1');
    expect(lookup.calls).toEqual(['multi']);
  });

  describe('in a transport', () => {
    const nodes = new Nodes();
    afterEach(() => nodes.destroyAll());

    it('connects to a node named by host name through its own resolver', async () => {
      const [p1, p2] = [await freePort(), await freePort()];
      const lookup = async (host: string): Promise<ResolvedAddress[]> => {
        if (host.endsWith('.raftdcs.test')) return [v4('127.0.0.1')];
        throw new Error('ENOTFOUND');
      };
      const resolver = new CachingDnsResolver({ lookup });
      const hi = `node-b.raftdcs.test:${p2}`;
      const lo = `node-a.raftdcs.test:${p1}`;
      const a = await nodes.start(hi, [lo], { resolver });
      const b = await nodes.start(lo, [hi], { resolver });
      await a.rec.connected(lo);
      await b.rec.connected(hi);
      expect(a.transport.resolver).toBe(resolver);
    });

    it('a name that does not resolve is a counted, retried connect failure', async () => {
      const resolver = new CachingDnsResolver({ lookup: async () => [], failCacheTimeMs: 0 });
      const n = await nodes.start(null, ['nowhere.raftdcs.test:1'], { resolver, connectionRetryTimeMs: 30 });
      const deadline = performance.now() + 3000;
      while ((n.transport.peerInfo('nowhere.raftdcs.test:1')?.totalConnectFailures ?? 0) < 3) {
        if (performance.now() > deadline) throw new Error('no retries');
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(n.transport.peerInfo('nowhere.raftdcs.test:1')?.lastConnectError).toContain(
        'cannot resolve host',
      );
    });
  });
});

describe('utility replies (pysyncobj _utilityCallback)', () => {
  it('a truthy result without error is sent as it is', () => {
    const status = dict({ version: '0.3.11', self: tcpNode('a:1') });
    expect(formatUtilityResult('status', [], status, null)).toBe(status);
    const members = [dict({ addr: 'a:1', leader: true, status: 2 })];
    expect(formatUtilityResult('members', [], members, undefined)).toBe(members);
  });

  it('otherwise SUCCESS/FAIL, the upper-cased command and str() of each argument', () => {
    expect(formatUtilityResult('add', ['127.0.0.1:21004'], null, 0)).toBe('SUCCESS ADD 127.0.0.1:21004');
    expect(formatUtilityResult('remove', ['127.0.0.1:21001'], null, 3)).toBe('FAIL REMOVE 127.0.0.1:21001');
    expect(formatUtilityResult('set_version', [2], null, 0)).toBe('SUCCESS SET_VERSION 2');
    // error None with a falsy result: FAIL (None != SUCCESS)
    expect(formatUtilityResult('add', ['x:1'], null, null)).toBe('FAIL ADD x:1');
    expect(formatUtilityResult('add', ['x:1'], 0, null)).toBe('FAIL ADD x:1');
    expect(formatUtilityResult('add', ['x:1'], dict({}), null)).toBe('FAIL ADD x:1');
    // a truthy result WITH an error code is not sent
    expect(formatUtilityResult('add', ['x:1'], 'done', 0)).toBe('SUCCESS ADD x:1');
    // Python str() of non-str arguments
    expect(formatUtilityResult('add', [null, true, float(1), tuple(1, 'a'), Buffer.from('b')], null, 1)).toBe(
      "FAIL ADD None True 1.0 (1, 'a') b'b'",
    );
    expect(formatUtilityResult('add', [tcpNode('h:1')], null, 0)).toBe('SUCCESS ADD h:1');
  });

  it('a handler exception is replied as str(exception)', () => {
    expect(
      formatUtilityResult('add', [null], null, new Error("'NoneType' object has no attribute 'rsplit'")),
    ).toBe("'NoneType' object has no attribute 'rsplit'");
  });

  it('requests are checked before a handler sees them', () => {
    const known = new Set(['status', 'add']);
    expect(checkUtilityRequest(['add', 'x:1'], known)).toEqual({ ok: true, command: 'add', args: ['x:1'] });
    expect(checkUtilityRequest(['ADD'], known)).toEqual({ ok: false, reply: "unknown command 'ADD'" });
    expect(checkUtilityRequest([], known)).toMatchObject({ ok: false });
    expect(checkUtilityRequest([null], known)).toEqual({
      ok: false,
      reply: 'invalid utility command: the first element must be a str, got None',
    });
  });
});
