/**
 * What `raftdcs recover` tells the operator, as text: the files read (or the snapshot file), what is
 * kept (last index, term, keys), what may be lost, what the old members answered, and — once
 * written — the backups and the next steps. Pure formatting; the wall clock comes in as an argument.
 */
import type { SnapshotFileContents } from '../backup/snapshot-file.js';
import type { LogEntry } from '../raft/core/types.js';
import { entryAt, type RecoveryPlan } from './plan.js';
import type { MemberProbe, QuorumJudgement } from './quorum-check.js';
import type { SurvivorFiles } from './survivor-files.js';
import type { WriteMode, WriteResult } from './write-files.js';

export interface PlanReportOptions {
  /** the wall clock, epoch seconds (for TTLs) */
  readonly nowSeconds: number;
  /** key names listed at most */
  readonly keyLimit: number;
}

function range(entries: readonly LogEntry[]): string {
  const first = entryAt(entries, 0);
  const last = entryAt(entries, -1);
  return first.index === last.index ? `entry ${first.index}` : `entries ${first.index}..${last.index}`;
}

/** The files as read. */
export function formatFiles(files: SurvivorFiles): string[] {
  const j = files.journal;
  const lines: string[] = [];
  if (files.journalFormat === 'none') {
    lines.push(`  journal ${files.paths.journal}: ${j.file?.existed ? 'empty (0 bytes)' : 'missing'}`);
  } else {
    const vote = j.hardState.votedFor === null ? 'no vote' : `voted for ${j.hardState.votedFor}`;
    lines.push(
      `  journal ${files.paths.journal} (${files.journalFormat}): ${range(j.entries)}, commit hint ` +
        `${j.commitIndex}, term ${j.hardState.term}, ${vote}`,
    );
  }
  const d = files.dump;
  lines.push(
    d === null
      ? `  dump    ${files.paths.dump}: none`
      : `  dump    ${files.paths.dump}: last index ${d.lastEntry.index} (term ${d.lastEntry.term}), ` +
          `cluster ${d.cluster.join(', ')}`,
  );
  return lines;
}

function ago(seconds: number): string {
  const s = Math.round(Math.abs(seconds));
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`;
}

/** What is kept: the index and term, the keys (at most `keyLimit` names) with their TTLs. */
function formatKept(plan: RecoveryPlan, o: PlanReportOptions): string[] {
  const out = [`Kept: the state as of index ${plan.lastEntry.index} (term ${plan.lastEntry.term}):`];
  const names = [...plan.keys.keys()].sort();
  out.push(`  ${names.length} key${names.length === 1 ? '' : 's'}${names.length > 0 ? ':' : ''}`);
  for (const name of names.slice(0, o.keyLimit)) {
    const r = plan.keys.get(name);
    if (r === undefined) continue;
    const ttl =
      r.expire === undefined
        ? ''
        : r.expire <= o.nowSeconds
          ? `  (TTL: expired ${ago(o.nowSeconds - r.expire)} ago)`
          : `  (TTL: ${ago(r.expire - o.nowSeconds)} left)`;
    out.push(`    ${name}  index ${r.index}${ttl}`);
  }
  if (names.length > o.keyLimit) out.push(`    … and ${names.length - o.keyLimit} more`);
  const expired = names.filter((n) => {
    const e = plan.keys.get(n)?.expire;
    return e !== undefined && e <= o.nowSeconds;
  });
  if (expired.length > 0) {
    out.push(
      `  ${expired.length} key${expired.length === 1 ? ' has' : 's have'} a TTL that has run out (no leader ` +
        'expired them): the new leader removes them as soon as it is elected, as any leader would',
    );
  }
  return out;
}

/** What is kept and what may be lost. */
export function formatPlan(files: SurvivorFiles, plan: RecoveryPlan, o: PlanReportOptions): string {
  const out: string[] = [`Node ${plan.selfAddr}, files read:`, ...formatFiles(files)];
  for (const n of plan.notes) out.push(`  note: ${n}`);

  out.push('', ...formatKept(plan, o));

  out.push('', 'May be lost:');
  out.push(
    `  - entries after index ${plan.lastEntry.index} that other members may have had (this node's log ends ` +
      'there): writes the old cluster acknowledged after that point are gone',
  );
  if (plan.uncommitted !== null) {
    const u = plan.uncommitted;
    out.push(
      `  - nothing of this log is discarded: entries ${u.from}..${u.to} were not known to be committed here ` +
        'and are applied anyway (a leader elected from this node would have committed them too); a write a ' +
        'client saw fail or time out among them now counts as done',
    );
  }
  if (plan.partialData !== null) {
    out.push(
      `  - the data files are incomplete (${plan.partialData.code}, accepted with --unsafe-allow-partial-data): ` +
        `${plan.partialData.reason}`,
    );
  }
  for (const f of plan.applyFailures) {
    out.push(`  - entry ${f.index} (term ${f.term}) could not be applied (as on a running node): ${f.error}`);
  }
  if (plan.selfRemoved) {
    out.push(
      '  - this node had been removed from the cluster: its log may lack everything written since its removal',
    );
  }
  return `${out.join('\n')}\n`;
}

/** What a restore from a snapshot file keeps, and what it cannot have. */
export function formatSnapshotPlan(
  snapshot: SnapshotFileContents,
  plan: RecoveryPlan,
  o: PlanReportOptions,
): string {
  const h = snapshot.header;
  const out = [
    `Snapshot ${snapshot.file} (checksum ok): taken from ${h.node} at ${h.created}, index ${h.lastIndex} ` +
      `(term ${h.lastTerm}), membership ${h.cluster.join(', ')}`,
    `Restoring it as node ${plan.selfAddr}, into a new data dir`,
    '',
    ...formatKept(plan, o),
    '',
    'Not in the snapshot:',
    `  - writes after index ${h.lastIndex} (made after the snapshot was taken)`,
    `  - the old cluster's log and membership: the restored node starts a new cluster; never let it join ` +
      'the old one, nor an old member join it with its old files',
  ];
  return `${out.join('\n')}\n`;
}

/** What the old members answered, and the judgement. */
export function formatProbes(
  plan: RecoveryPlan,
  probes: readonly MemberProbe[],
  judgement: QuorumJudgement,
): string {
  const out = [`Old members as of index ${plan.lastEntry.index}: ${plan.oldMembers.join(', ')}`];
  for (const p of probes) {
    const member = plan.oldMembers.includes(p.addr) ? '' : ' (a configured partner, not a member in the log)';
    out.push(`  ${p.addr}${member}: ${p.outcome} — ${p.detail}`);
  }
  if (plan.oldMembers.includes(plan.selfAddr))
    out.push(`  ${plan.selfAddr}: this node (stopped, counted alive)`);
  out.push(
    `  ${judgement.alive} of ${judgement.members} alive; a majority is ${judgement.majority}: ` +
      (judgement.majorityAlive ? 'the old cluster can still form a majority' : 'no majority'),
  );
  return `${out.join('\n')}\n`;
}

/** The new cluster, before the question. */
export function formatIntent(plan: RecoveryPlan, mode: WriteMode): string {
  const who =
    plan.members.length === 1
      ? `${plan.selfAddr} alone`
      : `${plan.members.join(', ')} (${plan.members.length} members: a majority of them must run to elect a leader)`;
  const files =
    mode === 'raftdcs'
      ? `term ${plan.newTerm} persisted (above every term in the data, ${plan.highestTerm}); a dump at index ` +
        `${plan.lastEntry.index} and a journal holding its last two entries`
      : `a dump at index ${plan.lastEntry.index}; the pysyncobj journal stays (pysyncobj resets it to the dump ` +
        'when it starts, and keeps no term: none is persisted)';
  return `\nNew cluster: ${who}; ${files}.\n`;
}

/** The backups and what to do next (`newDataDir`: a data dir built from a snapshot, not a node's own). */
export function formatDone(
  plan: RecoveryPlan,
  result: WriteResult,
  configHint: string,
  newDataDir = false,
): string {
  const written = result.journal === null ? [result.dump] : [result.dump, result.journal];
  const out = ['', 'Written:', ...written.map((f) => `  ${f}`)];
  if (result.backups.length > 0) out.push('Old files kept as:');
  for (const b of result.backups) out.push(`  ${b.from} -> ${b.to}`);
  const how = newDataDir ? 'start the node' : 'start this node as before';
  const start =
    result.journal === null
      ? `${how} (Patroni or patroni_raft_controller)`
      : `${how} (raftdcs controller ${configHint})`;
  out.push(
    '',
    'Next:',
    `  1. ${start}: it follows the recovered membership, not partner_addrs, and elects itself`,
    `  2. add members one at a time, each with an empty data_dir: raftdcs admin -conn ${plan.selfAddr} ` +
      '-add <host:port>, then start it (partner_addrs naming this node)',
    '  3. never start an old member on its old files: empty its data_dir first (it rejoins as a new node)',
  );
  if (plan.members.length > 1) {
    out.push(
      `  (the new membership has ${plan.members.length} members: start the others, with empty data_dirs, ` +
        'before the cluster can elect a leader)',
    );
  }
  return `${out.join('\n')}\n`;
}
