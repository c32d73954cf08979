/**
 * The `raftdcs ctl` commands that only read: `list`, `topology`, `show-config`, `history`, and our
 * own `dump` (every KV key under a prefix with its index, times and TTL left — the store as the
 * Raft log built it, which patronictl never showed).
 *
 * Each returns the exit code; failures are thrown as CtlError (the caller prints them). Nothing
 * here writes to the DCS.
 */

import { assert } from '../../assert.js';
import { PyDateTime } from '../../dcs/model/datetime.js';
import type { PyJson } from '../../dcs/model/json.js';
import { pyStrCompare } from '../../py/compare.js';
import { clusterTarget, isCitusOutput, readCluster, readConfig } from './cluster.js';
import { CtlError, resolveScope } from './config.js';
import { formatMembers } from './members.js';
import { type OutputFormat, printOutput, pyJsonDumpsDefault } from './output.js';
import { pyYamlDump } from './pyyaml.js';
import { type CtlSession, timestamp } from './session.js';
import { renderTable } from './table.js';

export interface ListOptions {
  readonly group?: number | null;
  readonly extended?: boolean;
  readonly timestamp?: boolean;
  readonly format: OutputFormat;
  /** `-W`: refresh every 2 s */
  readonly W?: boolean;
  /** `-w/--watch s`: refresh every s seconds */
  readonly watch?: number | null;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `list` / `topology`: the member table of each cluster named (default: scope), optionally refreshed. */
export async function listMembers(
  session: CtlSession,
  names: readonly string[],
  o: ListOptions,
): Promise<number> {
  let clusters = [...names];
  if (clusters.length === 0) {
    const scope = session.config.scope;
    if (typeof scope === 'string' && scope !== '') clusters = [scope];
    else {
      session.log.warn({}, 'Listing members: No cluster names were provided');
      return 0;
    }
  }
  const [first] = clusters;
  assert(first !== undefined, 'no cluster to list');
  const target = clusterTarget(session, first, o.group, 'none');
  const dcs = await session.dcs(target);
  const citus = isCitusOutput(session, target);
  const every = o.watch ?? (o.W ? 2 : null);
  const clear = () => {
    if (every !== null && session.io.stdout.isTTY) session.out('\x1b[2J\x1b[1;1H');
  };
  clear();
  for (;;) {
    if (o.timestamp) session.echo(timestamp(0));
    for (const name of clusters) {
      const cluster = await readCluster(dcs, name, session.namespace);
      session.out(
        formatMembers(cluster, name, { fmt: o.format, extended: o.extended, group: target.group, citus }),
      );
    }
    if (every === null) return 0;
    await sleep(every * 1000);
    clear();
  }
}

/** `show-config`: the dynamic configuration as YAML. */
export async function showConfig(
  session: CtlSession,
  name: string | undefined,
  group: number | null | undefined,
) {
  const scope = resolveScope(session.config, name, session.configPath);
  const dcs = await session.dcs(clusterTarget(session, scope, group, 'configured'));
  const config = readConfig(dcs);
  if (config === null) {
    throw new CtlError(`cluster ${scope} has no dynamic configuration (no ${dcs.paths.config} key)`);
  }
  session.echo(pyYamlDump(config.data));
  return 0;
}

/** `history`: the timeline history (the `history` key) as a table. */
export async function showHistory(
  session: CtlSession,
  name: string | undefined,
  group: number | null | undefined,
  format: OutputFormat,
): Promise<number> {
  const scope = resolveScope(session.config, name, session.configPath);
  const dcs = await session.dcs(clusterTarget(session, scope, group, 'configured'));
  const cluster = await readCluster(dcs, scope, session.namespace);
  const columns = ['TL', 'LSN', 'Reason', 'Timestamp', 'New Leader'];
  const rows: PyJson[][] = (cluster.history?.lines ?? []).map((line) => {
    const cells = Array.isArray(line) ? [...(line as readonly PyJson[])] : [line as PyJson];
    while (cells.length < columns.length) cells.push('');
    return cells.slice(0, columns.length);
  });
  session.out(printOutput(columns, rows, { TL: 'r', LSN: 'r' }, format));
  return 0;
}

export interface DumpOptions {
  readonly group?: number | null;
  readonly format: OutputFormat;
}

/** epoch seconds → ISO-8601 in UTC with microseconds, as Python's `isoformat()` prints them. */
function iso(seconds: number): string {
  return PyDateTime.fromEpochSeconds(seconds, 0).isoformat();
}

/**
 * `dump [prefix]`: every key under the prefix — an absolute one (`/`, `/service/`), or one
 * relative to the cluster path (`members/`); default the cluster path (every MPP group's keys
 * for a citus configuration without `--group`).
 */
export async function dumpKeys(
  session: CtlSession,
  prefix: string | undefined,
  o: DumpOptions,
): Promise<number> {
  const absolute = prefix?.startsWith('/') ?? false;
  const scopeSetting = session.config.scope;
  const scope = typeof scopeSetting === 'string' && scopeSetting !== '' ? scopeSetting : null;
  if (!absolute && scope === null) {
    throw new CtlError(
      `no cluster: a relative or empty prefix is read under the cluster path, so set scope in ${session.configPath ?? 'the configuration (-c/--config-file)'}, or give an absolute prefix such as /`,
      'scope',
    );
  }
  const target = clusterTarget(session, scope ?? 'raftdcs-ctl-dump', o.group, 'none');
  const dcs = await session.dcs(target);
  const base = target.coordinatorView ? dcs.paths.mppRoot : dcs.paths.cluster;
  const where = absolute ? (prefix as string) : base + (prefix ?? '');
  const now = Date.now() / 1000;
  const records = [...dcs.kv.getPrefix(where)].sort((a, b) => pyStrCompare(a[0], b[0]));
  if (o.format === 'json' || o.format === 'yaml' || o.format === 'yml') {
    const items = records.map(([key, r]) => {
      const m = new Map<string, PyJson>([
        ['key', key],
        ['index', r.index],
        ['value', r.value],
        ['created', iso(r.created)],
        ['updated', iso(r.updated)],
        ['expire', r.expire === undefined ? null : iso(r.expire)],
        ['ttl_left', r.expire === undefined ? null : Math.round((r.expire - now) * 1000) / 1000],
      ]);
      return m;
    });
    session.echo(o.format === 'json' ? pyJsonDumpsDefault(items) : pyYamlDump(items));
    return 0;
  }
  const columns = ['Key', 'Index', 'Created', 'Updated', 'TTL left', 'Value'];
  const rows = records.map(([key, r]) => {
    let ttl = '-';
    if (r.expire !== undefined) {
      const left = r.expire - now;
      ttl = left > 0 ? `${left.toFixed(1)}s` : `expired ${(-left).toFixed(1)}s ago`;
    }
    return [key, String(r.index), iso(r.created), iso(r.updated), ttl, r.value];
  });
  if (o.format === 'tsv') {
    for (const r of [columns, ...rows]) session.echo(r.join('\t'));
    return 0;
  }
  session.echo(
    renderTable(columns, rows, {
      align: { Index: 'r', 'TTL left': 'r' },
      title: ` Keys under ${where} (${records.length}) `,
    }),
  );
  return 0;
}
