/**
 * A private network of Linux network namespaces for the chaos harness, with network faults.
 *
 * Why: the harness runs real processes (one daemon per "node") and must cut links between them the
 * way a real network fails — packets silently vanish, nothing answers "refused" — while the test
 * process keeps watching every node. Loopback addresses on one host cannot be partitioned like
 * that, so each node gets its own network namespace with its own address and port space.
 *
 * Layout of one instance with n nodes (subnet 10.a.b.0/24):
 *
 *     root namespace:  rdcr<a>-<b> 10.a.b.254 ──veth── root ┐
 *     hub namespace:                                        br0 (bridge)
 *     node i (0..n-1): eth0 10.a.b.<i+1>, lo ─────veth── p<i> ┘
 *
 * The bridge lives in a namespace of its own ("hub"), not in the root namespace, where a host may
 * have Docker-style iptables rules and br_netfilter that would filter bridged traffic. The root end
 * of one veth pair gives the test process a plain route to every node address (e.g. to read a
 * node's HTTP status endpoint); faults never match that address, so it always works.
 *
 * Faults are a set of directed pairs (from, to): packets from node `from` to node `to` are dropped
 * silently (never rejected) on arrival in `to`'s namespace — an nftables prerouting rule on the
 * source address, ahead of conntrack. Dropping in `from`'s output hook instead would not be
 * silent: the kernel turns a locally dropped packet into EPERM for the sender (a UDP send fails at
 * once), which no real network does; dropped on arrival, the sender sees a packet that just never
 * got there, and every path to `to` (it has one interface) passes prerouting. Each node namespace
 * has one `inet` table whose drop rule feeds a named counter; a change flushes and refills the chain
 * in one `nft -f -` transaction per namespace (namespaces whose rules do not change are left
 * alone), and named counters outlive the flush, so the drop count covers the whole life of the
 * instance. Faults are IPv4 only (every node address is IPv4), and per packet, so TCP needs both
 * directions: with only 0→1 cut, a connection from 1 to 0 stalls too (its SYN-ACK is dropped);
 * UDP shows the one-way cut as it is. ARP is not filtered, as a switch that loses frames would.
 *
 * Names: the namespaces are `rdc<pid>x<k>[-<tag>-]h` (hub) and `...n<i>` (nodes), where pid is the
 * creating process and k a per-process counter, so `cleanupStale()` can find and delete what a
 * crashed run left behind (and nothing else). The subnet 10.a.b.0/24 (a in 200..254) starts from a
 * slot derived from pid and k, skips every prefix already routed in the root namespace, and is
 * claimed atomically by the name of the root veth end, `rdcr<a>-<b>`: the kernel refuses a second
 * link of that name, so two instances (in any processes) never share a subnet. The root link's
 * alias records the owner (`rdc<pid>x<k>`).
 *
 * A process left running inside a node namespace keeps that namespace alive (anonymously) after
 * `destroy()`; callers kill their processes first. Every command runs through execFile (no shell);
 * a failing command throws an Error naming the command line and its stderr.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Every namespace (and the root link's alias) of this module starts with this. */
export const NAME_PREFIX = 'rdc';
/** `rdc<pid>x<k>[-<tag>-](h|n<i>)`: the only namespace names `cleanupStale` will delete. */
const NS_NAME = /^rdc(\d+)x(\d+)(?:-[a-z0-9]{1,8}-)?(?:h|n\d+)$/;
/** Root ends of the hub links: `rdcr<a>-<b>` (the name claims subnet 10.a.b.0/24). */
const ROOT_LINK_NAME = /^rdcr(\d{1,3})-(\d{1,3})$/;
const OWNER_ALIAS = /^rdc(\d+)x(\d+)$/;
const NETNS_DIR = '/run/netns';
const TABLE = 'rdcchaos';
const COMMAND_TIMEOUT_MS = 15_000;
/** Subnets 10.200.0.0/24 .. 10.254.255.0/24. */
const SUBNET_FIRST_A = 200;
const SUBNET_SLOTS = (255 - SUBNET_FIRST_A) * 256;
const SUBNET_TRIES = 256;
const MAX_NODES = 200;

/** A directed fault: packets from node `from` to node `to` are dropped. */
export type Pair = readonly [from: number, to: number];

/** A command that failed: its command line, exit code (or signal) and stderr. */
export class CommandError extends Error {
  readonly commandLine: string;
  readonly stderr: string;
  constructor(commandLine: string, stderr: string, detail: string) {
    super(`command failed: ${commandLine} (${detail})${stderr ? `: ${stderr}` : ''}`);
    this.name = 'CommandError';
    this.commandLine = commandLine;
    this.stderr = stderr;
  }
}

function field(e: unknown, key: string): unknown {
  return typeof e === 'object' && e !== null && key in e ? (e as Record<string, unknown>)[key] : undefined;
}

/** Run `bin args...` (optionally feeding `input` on stdin); resolves to stdout. */
async function run(bin: string, args: readonly string[], input?: string): Promise<string> {
  const commandLine = [bin, ...args].join(' ');
  const pending = execFileAsync(bin, args, {
    encoding: 'utf8',
    timeout: COMMAND_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
  });
  // The command may exit without reading its stdin (EPIPE): its exit status tells what happened.
  pending.child.stdin?.on('error', () => {});
  if (input === undefined) pending.child.stdin?.end();
  else pending.child.stdin?.end(input);
  try {
    return (await pending).stdout;
  } catch (e) {
    const stderr = String(field(e, 'stderr') ?? '').trim();
    const code = field(e, 'code');
    const signal = field(e, 'signal');
    const detail =
      code === 'ENOENT'
        ? 'not found'
        : field(e, 'killed') === true
          ? `killed by ${String(signal)} (timeout ${COMMAND_TIMEOUT_MS} ms?)`
          : typeof code === 'number'
            ? `exit code ${code}`
            : e instanceof Error
              ? e.message
              : String(e);
    throw new CommandError(commandLine, stderr, detail);
  }
}

const stderrSays = (e: unknown, re: RegExp): boolean => e instanceof CommandError && re.test(e.stderr);
const NOT_THERE = /No such file|Cannot find device|does not exist|Invalid "netns" value/i;

/** Await every promise (so nothing is still running when we clean up), then throw the first error. */
async function settleAll<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

const binaries = new Map<string, Promise<string | undefined>>();

/** Absolute path of a system binary: PATH first, then the sbin directories a non-login root may lack. */
function findBinary(name: string): Promise<string | undefined> {
  let found = binaries.get(name);
  if (!found) {
    found = (async () => {
      const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
      for (const dir of dirs) {
        if (!dir.startsWith('/')) continue;
        const path = join(dir, name);
        try {
          await access(path, constants.X_OK);
          return path;
        } catch {
          // not here
        }
      }
      return undefined;
    })();
    binaries.set(name, found);
  }
  return found;
}

async function requireBinary(name: string, pkg: string): Promise<string> {
  const path = await findBinary(name);
  if (!path) throw new Error(`${name} not found (install ${pkg})`);
  return path;
}

async function existingNamespaces(): Promise<string[]> {
  try {
    return await readdir(NETNS_DIR);
  } catch {
    return [];
  }
}

// The counter lives on globalThis so that two copies of this module in one process (test runners
// re-import modules) still hand out distinct names.
const COUNTER = Symbol.for('raftdcs.chaos.netns.counter');
function nextCounter(): number {
  const g = globalThis as { [COUNTER]?: number };
  const k = g[COUNTER] ?? 0;
  g[COUNTER] = k + 1;
  return k;
}

/** A fresh `rdc<pid>x<k>` not used by any existing namespace. */
async function allocateOwner(): Promise<{ owner: string; k: number }> {
  const existing = await existingNamespaces();
  for (;;) {
    const k = nextCounter();
    const owner = `${NAME_PREFIX}${process.pid}x${k}`;
    const clash = existing.some((n) => {
      const m = NS_NAME.exec(n);
      return m !== null && Number(m[1]) === process.pid && Number(m[2]) === k;
    });
    if (!clash) return { owner, k };
  }
}

// ---- addresses ----

function ipv4ToInt(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    const n = Number(p);
    if (!/^\d{1,3}$/.test(p) || n > 255) return undefined;
    v = v * 256 + n;
  }
  return v;
}

/** IPv4 prefixes routed in the root namespace (all tables), as [network, length]; default excluded. */
async function routedPrefixes(ip: string): Promise<Array<[number, number]>> {
  const out = await run(ip, ['-j', '-4', 'route', 'show', 'table', 'all']);
  const parsed: unknown = JSON.parse(out || '[]');
  const prefixes: Array<[number, number]> = [];
  if (!Array.isArray(parsed)) return prefixes;
  for (const route of parsed) {
    const dst = field(route, 'dst');
    if (typeof dst !== 'string' || dst === 'default') continue;
    const [addr = '', len] = dst.split('/');
    const a = ipv4ToInt(addr);
    const l = len === undefined ? 32 : Number(len);
    if (a !== undefined && Number.isInteger(l) && l > 0 && l <= 32) prefixes.push([a, l]);
  }
  return prefixes;
}

function overlaps(net: number, len: number, prefixes: ReadonlyArray<readonly [number, number]>): boolean {
  return prefixes.some(([p, l]) => {
    const shift = 32 - Math.min(len, l);
    return Math.floor(net / 2 ** shift) === Math.floor(p / 2 ** shift);
  });
}

// ---- fault sets ----

function checkIndex(nodes: number, i: number, what = 'node index'): void {
  if (!Number.isInteger(i) || i < 0 || i >= nodes) {
    throw new RangeError(`${what} ${i} out of range 0..${nodes - 1}`);
  }
}

/** Node `i` cut from every other node, both directions. */
export function isolatePairs(nodes: number, i: number): Pair[] {
  checkIndex(nodes, i);
  const pairs: Pair[] = [];
  for (let j = 0; j < nodes; j++) {
    if (j !== i) pairs.push([i, j], [j, i]);
  }
  return pairs;
}

/** Every node in `sideA` cut from every node outside it, both directions. */
export function splitPairs(nodes: number, sideA: readonly number[]): Pair[] {
  for (const i of sideA) checkIndex(nodes, i);
  const inA = new Set(sideA);
  const pairs: Pair[] = [];
  for (const i of inA) {
    for (let j = 0; j < nodes; j++) {
      if (!inA.has(j)) pairs.push([i, j], [j, i]);
    }
  }
  return pairs;
}

/** Groups `a` and `b` cut from each other (both directions); `via` and everyone else see both. */
export function bridgePairs(nodes: number, a: readonly number[], b: readonly number[], via: number): Pair[] {
  for (const i of [...a, ...b]) checkIndex(nodes, i);
  checkIndex(nodes, via, 'via');
  const inB = new Set(b);
  if (a.some((i) => inB.has(i)))
    throw new Error(`bridge: groups overlap ([${a.join(',')}] / [${b.join(',')}])`);
  if (a.includes(via) || inB.has(via)) throw new Error(`bridge: via ${via} is in a group`);
  const pairs: Pair[] = [];
  for (const i of new Set(a)) {
    for (const j of inB) pairs.push([i, j], [j, i]);
  }
  return pairs;
}

// ---- nftables ----

const INIT_SCRIPT = `table inet ${TABLE} {
  counter dropped { }
  chain prerouting { type filter hook prerouting priority raw; policy accept; }
}
`;

/** The node's rules: drop (and count) every packet arriving from these addresses. */
function rulesScript(dropFrom: readonly string[]): string {
  let s = `flush chain inet ${TABLE} prerouting\n`;
  if (dropFrom.length > 0) {
    s += `add rule inet ${TABLE} prerouting ip saddr { ${dropFrom.join(', ')} } counter name "dropped" drop\n`;
  }
  return s;
}

/** Packets counted by this module's named counters in `nft -j list counters table ...` output. */
function countedPackets(json: string): number {
  const parsed: unknown = JSON.parse(json);
  const items = field(parsed, 'nftables');
  if (!Array.isArray(items)) throw new Error(`unexpected nft JSON: ${json.slice(0, 200)}`);
  let total = 0;
  for (const item of items) {
    const counter = field(item, 'counter');
    const packets = field(counter, 'packets');
    if (field(counter, 'table') === TABLE && typeof packets === 'number') total += packets;
  }
  return total;
}

// ---- support check ----

let support: Promise<{ ok: true } | { ok: false; reason: string }> | undefined;

/**
 * Whether this host can run ChaosNet: Linux, root, iproute2 and nftables installed, and a namespace
 * with a bridge, a veth pair and an nftables table can be created and deleted. Cached.
 */
export function netnsSupport(): Promise<{ ok: true } | { ok: false; reason: string }> {
  support ??= checkSupport();
  return support;
}

async function checkSupport(): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (process.platform !== 'linux')
    return { ok: false, reason: `network namespaces need Linux, not ${process.platform}` };
  const uid = process.getuid?.();
  if (uid !== 0)
    return { ok: false, reason: `not running as root (uid ${uid}); network namespaces need root` };
  const ip = await findBinary('ip');
  if (!ip) return { ok: false, reason: 'ip not found (install iproute2)' };
  const nft = await findBinary('nft');
  if (!nft) return { ok: false, reason: 'nft not found (install nftables)' };
  const { owner } = await allocateOwner();
  const ns = `${owner}h`;
  try {
    await run(ip, ['netns', 'add', ns]);
    await run(
      ip,
      ['-n', ns, '-batch', '-'],
      'link add br0 type bridge\nlink add name probe0 type veth peer name probe1\n',
    );
    await run(ip, ['netns', 'exec', ns, nft, '-f', '-'], INIT_SCRIPT);
    return { ok: true };
  } catch (e) {
    return {
      ok: false,
      reason: `cannot set up a test namespace: ${e instanceof Error ? e.message : String(e)}`,
    };
  } finally {
    await run(ip, ['netns', 'delete', ns]).catch(() => {});
  }
}

// ---- stale cleanup ----

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return field(e, 'code') === 'EPERM';
  }
}

/**
 * Delete what crashed runs left behind: namespaces named by this module's scheme, and root links
 * `rdcr<a>-<b>` whose alias names an owner, when the owning pid is no longer alive. Returns the
 * names deleted. Pids are those of this host's pid namespace.
 */
export async function cleanupStale(): Promise<string[]> {
  const ip = await findBinary('ip');
  if (!ip) return [];
  const removed: string[] = [];
  const deadOwner = (name: string, re: RegExp): boolean => {
    const m = re.exec(name);
    return m !== null && !pidAlive(Number(m[1]));
  };
  const links: unknown = JSON.parse((await run(ip, ['-j', 'link', 'show'])) || '[]');
  for (const link of Array.isArray(links) ? links : []) {
    const name = field(link, 'ifname');
    const alias = field(link, 'ifalias');
    if (typeof name !== 'string' || !ROOT_LINK_NAME.test(name)) continue;
    if (typeof alias !== 'string' || !deadOwner(alias, OWNER_ALIAS)) continue;
    try {
      await run(ip, ['link', 'delete', name]);
      removed.push(name);
    } catch (e) {
      if (!stderrSays(e, NOT_THERE)) throw e;
    }
  }
  for (const ns of await existingNamespaces()) {
    if (!deadOwner(ns, NS_NAME)) continue;
    try {
      await run(ip, ['netns', 'delete', ns]);
      removed.push(ns);
    } catch (e) {
      if (!stderrSays(e, NOT_THERE)) throw e;
    }
  }
  return removed;
}

/** Delete namespaces and (when we created it) the root link; missing ones are fine. */
async function deleteAll(
  ip: string,
  namespaces: readonly string[],
  rootLink: string | undefined,
): Promise<void> {
  // The root link first: deleting the hub would remove it too, but only once the kernel gets to
  // the namespace's cleanup (and never while a process still holds the hub).
  const steps: Promise<unknown>[] = [];
  if (rootLink !== undefined) {
    steps.push(
      run(ip, ['link', 'delete', rootLink]).catch((e: unknown) => {
        if (!stderrSays(e, NOT_THERE)) throw e;
      }),
    );
  }
  await settleAll(steps);
  await settleAll(
    namespaces.map((ns) =>
      run(ip, ['netns', 'delete', ns]).catch((e: unknown) => {
        if (!stderrSays(e, NOT_THERE)) throw e;
      }),
    ),
  );
}

// ---- the network ----

export interface ChaosNetOptions {
  /** Number of node namespaces (1..200). */
  nodes: number;
  /** Optional label (1-8 of [a-z0-9]) put into the namespace names, for people reading `ip netns list`. */
  tag?: string;
}

export class ChaosNet {
  /** Node namespaces, index i = node i. */
  readonly nodeNs: string[];
  readonly hubNs: string;
  /** The root namespace's address on the private network (the test process's own address). */
  readonly rootIp: string;
  /** Root namespace end of the hub link (`rdcr<a>-<b>`). */
  readonly rootLink: string;
  /** The private network, `10.a.b.0/24`. */
  readonly subnet: string;
  private readonly ip: string;
  private readonly nft: string;
  private readonly prefix: string;
  /** Current fault set, as "from>to" keys. */
  private faults = new Set<string>();
  /** Last rules script applied per node namespace (unchanged namespaces are skipped). */
  private readonly applied: string[];
  /** Fault changes run one at a time, in call order. */
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private destroying: Promise<void> | undefined;

  private constructor(p: {
    ip: string;
    nft: string;
    hubNs: string;
    nodeNs: string[];
    prefix: string;
    rootLink: string;
  }) {
    this.ip = p.ip;
    this.nft = p.nft;
    this.hubNs = p.hubNs;
    this.nodeNs = p.nodeNs;
    this.prefix = p.prefix;
    this.rootLink = p.rootLink;
    this.rootIp = `${p.prefix}.254`;
    this.subnet = `${p.prefix}.0/24`;
    this.applied = p.nodeNs.map(() => rulesScript([]));
  }

  static async create(opts: ChaosNetOptions): Promise<ChaosNet> {
    const { nodes, tag } = opts;
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NODES) {
      throw new RangeError(`nodes must be an integer in 1..${MAX_NODES}, got ${nodes}`);
    }
    if (tag !== undefined && !/^[a-z0-9]{1,8}$/.test(tag)) {
      throw new Error(`tag must be 1-8 characters of [a-z0-9], got ${JSON.stringify(tag)}`);
    }
    const ip = await requireBinary('ip', 'iproute2');
    const nft = await requireBinary('nft', 'nftables');
    const { owner, k } = await allocateOwner();
    const base = tag === undefined ? owner : `${owner}-${tag}-`;
    const hubNs = `${base}h`;
    const nodeNs = Array.from({ length: nodes }, (_, i) => `${base}n${i}`);
    // Set once the root link exists (it is ours to delete from then on).
    const claimed: { link?: string } = {};
    try {
      await run(ip, ['netns', 'add', hubNs]);
      await run(
        ip,
        ['-n', hubNs, '-batch', '-'],
        'link set lo up\nlink add br0 type bridge\nlink set br0 up\n',
      );
      // The hub forwards frames and nothing else: keep br_netfilter (if loaded) out of its way.
      const sysctl = await findBinary('sysctl');
      const claimRoot = async (): Promise<string> => {
        const routed = await routedPrefixes(ip);
        // Prefer a subnet no route touches; failing that, accept one inside a broad aggregate
        // (shorter than /16, e.g. a VPN's 10.0.0.0/8), which our more specific /24 only shadows.
        const passes = [routed, routed.filter(([, len]) => len >= 16)];
        const start = (process.pid * 7919 + k * 97) % SUBNET_SLOTS;
        for (const avoid of passes) {
          for (let t = 0; t < SUBNET_TRIES; t++) {
            const slot = (start + t) % SUBNET_SLOTS;
            const a = SUBNET_FIRST_A + Math.floor(slot / 256);
            const b = slot % 256;
            if (overlaps((((10 * 256 + a) * 256 + b) * 256) >>> 0, 24, avoid)) continue;
            const name = `rdcr${a}-${b}`;
            try {
              await run(ip, [
                'link',
                'add',
                'name',
                name,
                'type',
                'veth',
                'peer',
                'name',
                'root',
                'netns',
                hubNs,
              ]);
            } catch (e) {
              if (stderrSays(e, /File exists/)) continue; // another instance holds this subnet
              throw e;
            }
            claimed.link = name;
            const prefix = `10.${a}.${b}`;
            await run(
              ip,
              ['-batch', '-'],
              `link set ${name} alias ${owner}\naddr add ${prefix}.254/24 dev ${name}\nlink set ${name} up\n`,
            );
            await run(ip, ['-n', hubNs, 'link', 'set', 'root', 'master', 'br0', 'up']);
            return prefix;
          }
        }
        throw new Error(
          `no free subnet among ${SUBNET_TRIES} candidates in 10.${SUBNET_FIRST_A}-254.x.0/24 (all routed or taken)`,
        );
      };
      const [prefix] = await settleAll<string | undefined>([
        claimRoot(),
        sysctl === undefined
          ? Promise.resolve(undefined)
          : run(ip, [
              'netns',
              'exec',
              hubNs,
              sysctl,
              '-q',
              '-w',
              'net.bridge.bridge-nf-call-iptables=0',
              'net.bridge.bridge-nf-call-ip6tables=0',
              'net.bridge.bridge-nf-call-arptables=0',
            ]).then(
              () => undefined,
              () => undefined, // no br_netfilter: nothing to turn off
            ),
        ...nodeNs.map(async (ns, i) => {
          await run(ip, ['netns', 'add', ns]);
          await run(ip, [
            'link',
            'add',
            'name',
            `p${i}`,
            'netns',
            hubNs,
            'type',
            'veth',
            'peer',
            'name',
            'eth0',
            'netns',
            ns,
          ]);
          await run(ip, ['-n', hubNs, 'link', 'set', `p${i}`, 'master', 'br0', 'up']);
          await run(ip, ['netns', 'exec', ns, nft, '-f', '-'], INIT_SCRIPT);
          return undefined;
        }),
      ]);
      const rootLink = claimed.link;
      if (prefix === undefined || rootLink === undefined) throw new Error('internal: no subnet claimed');
      await settleAll(
        nodeNs.map((ns, i) =>
          run(
            ip,
            ['-n', ns, '-batch', '-'],
            `link set lo up\naddr add ${prefix}.${i + 1}/24 dev eth0\nlink set eth0 up\n`,
          ),
        ),
      );
      return new ChaosNet({ ip, nft, hubNs, nodeNs, prefix, rootLink });
    } catch (e) {
      await deleteAll(ip, [...nodeNs, hubNs], claimed.link).catch(() => {});
      throw e;
    }
  }

  /** Node i's address (no prefix length). */
  nodeIp(i: number): string {
    checkIndex(this.nodeNs.length, i);
    return `${this.prefix}.${i + 1}`;
  }

  /**
   * `ip netns exec <ns> <command> <args...>`: spawn this to run `command` inside node i's namespace.
   * `ip netns exec` execs the command, so the spawned pid is the command's own pid.
   */
  spawnArgs(i: number, command: string, args: readonly string[]): { command: string; args: string[] } {
    checkIndex(this.nodeNs.length, i);
    return { command: this.ip, args: ['netns', 'exec', this.nodeNs[i]!, command, ...args] };
  }

  /** The current fault set (directed pairs whose packets are dropped), sorted. */
  faultPairs(): Pair[] {
    return [...this.faults]
      .map((key): Pair => {
        const [from, to] = key.split('>').map(Number);
        return [from!, to!];
      })
      .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  }

  /**
   * Replace the fault set with exactly `pairs`: packets from node `from` to node `to` are dropped
   * silently. Changes apply one at a time, atomically per namespace.
   */
  block(pairs: ReadonlyArray<readonly [number, number]>): Promise<void> {
    const n = this.nodeNs.length;
    const next = new Set<string>();
    for (const [from, to] of pairs) {
      checkIndex(n, from, 'from');
      checkIndex(n, to, 'to');
      if (from === to) throw new Error(`cannot cut node ${from} from itself`);
      next.add(`${from}>${to}`);
    }
    const done = this.queue.then(() => this.apply(next));
    this.queue = done.catch(() => {});
    return done;
  }

  private async apply(next: Set<string>): Promise<void> {
    if (this.closed) throw new Error('ChaosNet already destroyed');
    const n = this.nodeNs.length;
    const scripts = this.nodeNs.map((_, i) => {
      const dropFrom: string[] = [];
      for (let j = 0; j < n; j++) {
        if (next.has(`${j}>${i}`)) dropFrom.push(this.nodeIp(j));
      }
      return rulesScript(dropFrom);
    });
    this.faults = next;
    await settleAll(
      scripts.map(async (script, i) => {
        if (script === this.applied[i]) return;
        // Forget what was applied until this namespace confirms (a failure leaves it unknown).
        this.applied[i] = '';
        await run(this.ip, ['netns', 'exec', this.nodeNs[i]!, this.nft, '-f', '-'], script);
        this.applied[i] = script;
      }),
    );
  }

  isolate(i: number): Promise<void> {
    return this.block(isolatePairs(this.nodeNs.length, i));
  }

  split(sideA: readonly number[]): Promise<void> {
    return this.block(splitPairs(this.nodeNs.length, sideA));
  }

  bridge(a: readonly number[], b: readonly number[], via: number): Promise<void> {
    return this.block(bridgePairs(this.nodeNs.length, a, b, via));
  }

  oneWay(from: number, to: number): Promise<void> {
    return this.block([[from, to]]);
  }

  heal(): Promise<void> {
    return this.block([]);
  }

  /** Packets dropped on their way into node i (from the nodes cut from it) since creation. */
  async droppedBy(i: number): Promise<number> {
    checkIndex(this.nodeNs.length, i);
    const out = await run(this.ip, [
      'netns',
      'exec',
      this.nodeNs[i]!,
      this.nft,
      '-j',
      'list',
      'counters',
      'table',
      'inet',
      TABLE,
    ]);
    return countedPackets(out);
  }

  /** Packets dropped by the fault rules in all node namespaces since creation. */
  async droppedPackets(): Promise<number> {
    const counts = await settleAll(this.nodeNs.map((_, i) => this.droppedBy(i)));
    return counts.reduce((s, c) => s + c, 0);
  }

  /** Delete every namespace and link this instance created. Idempotent; retried if it failed. */
  destroy(): Promise<void> {
    this.closed = true;
    this.destroying ??= (async () => {
      await this.queue;
      await deleteAll(this.ip, [...this.nodeNs, this.hubNs], this.rootLink);
    })().catch((e: unknown) => {
      this.destroying = undefined;
      throw e;
    });
    return this.destroying;
  }
}
