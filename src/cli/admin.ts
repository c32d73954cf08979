/**
 * `raftdcs admin` — pysyncobj's `syncobj_admin`, same flags and same output, so scripts written
 * around it keep working:
 *
 * - flags parsed the argparse way: `-conn host:port`, `-conn=host:port`, unique prefixes (`-con`),
 *   last one wins; a usage error prints the usage and `raftdcs admin: error: …` on stderr and
 *   exits 2;
 * - one command, chosen in syncobj_admin's order: `-status`, `-add`, `-remove`, `-set_version`
 *   (then our `-members`);
 * - the same checks and texts: `invalid address to connect`, `invalid address to command add`,
 *   `invalid command`, `connection lost`, and `None` when the host does not resolve;
 * - a dict reply (status) as `key: value` lines sorted by key, values as Python's `str()`
 *   (`True`, `None`, a node as its address); a string reply as is; anything else as Python's
 *   `str()`; always followed by a newline; exit code 0, as syncobj_admin, whatever the outcome.
 *
 * Additions: `-members` (Patroni's `members` list as a table), `-snapshot FILE` and `-compact`
 * (raftdcs nodes only: a backup of the state, a log compaction now; ./admin-backup.ts),
 * `-transfer host:port` (hand the leadership to that member: raftdcs leaders only — sent only to a
 * node whose feature probe lists it, since a pysyncobj node stops on a command it does not know),
 * `-timeout SECONDS` (default 30; syncobj_admin waits 900 s), and `--json` (one JSON object; exit
 * 0 only when the command succeeded, else 1). An abbreviation is matched against syncobj_admin's
 * own flags first, so every command line syncobj_admin takes (or rejects) parses as it does there.
 *
 * This module writes only to the streams it is given and never calls process.exit.
 */
import { pyStrCompare } from '../py/compare.js';
import { pyIntFromString } from '../py/numbers.js';
import { FEATURES_ARGUMENT, featuresFromStatus } from '../raft/snapshot/utility-protocol.js';
import { TcpUtility, UtilityError, UtilityErrorCode } from '../raft/transport/utility-client.js';
import { TRANSFER_COMMAND } from '../raft/utility-commands.js';
import { isDict, type PyValue, pyStr } from '../wire/value.js';
import { runCompactCommand, runSnapshotCommand } from './admin-backup.js';
import { type Json, pyToJson } from './py-json.js';

export const ADMIN_DEFAULT_TIMEOUT_SECONDS = 30;

export interface AdminArgs {
  connection: string | null;
  password: string | null;
  status: boolean;
  add: string | null;
  remove: string | null;
  version: bigint | null;
  members: boolean;
  snapshot: string | null;
  compact: boolean;
  transfer: string | null;
  timeoutSeconds: number;
  json: boolean;
  help: boolean;
}

interface OptionSpec {
  readonly flag: string;
  /** raftdcs's addition (not a syncobj_admin flag): matched by an abbreviation only when no syncobj_admin flag is */
  readonly ours?: boolean;
  readonly dest: keyof AdminArgs;
  readonly metavar?: string;
  readonly help: string;
  /** converts the value; throws a message on a bad one */
  readonly convert?: (v: string) => AdminArgs[keyof AdminArgs];
}

const OPTIONS: readonly OptionSpec[] = [
  { flag: '-h', dest: 'help', help: 'show this help message and exit' },
  { flag: '--help', dest: 'help', help: 'show this help message and exit' },
  { flag: '-conn', dest: 'connection', metavar: 'CONNECTION', help: 'address to connect', convert: (v) => v },
  { flag: '-pass', dest: 'password', metavar: 'PASSWORD', help: "cluster's password", convert: (v) => v },
  { flag: '-status', dest: 'status', help: "send command 'status'" },
  { flag: '-add', dest: 'add', metavar: 'ADD', help: "send command 'add'", convert: (v) => v },
  { flag: '-remove', dest: 'remove', metavar: 'REMOVE', help: "send command 'remove'", convert: (v) => v },
  {
    flag: '-set_version',
    dest: 'version',
    metavar: 'VERSION',
    help: 'set cluster code version',
    convert: (v) => {
      const n = pyIntFromString(v);
      if (n === null) throw new Error(`argument -set_version: invalid int value: '${v}'`);
      return n;
    },
  },
  {
    flag: '-members',
    dest: 'members',
    ours: true,
    help: "send command 'members' (Patroni nodes) and print a table",
  },
  {
    flag: '-snapshot',
    dest: 'snapshot',
    ours: true,
    metavar: 'FILE',
    help: "save a consistent copy of the node's state to FILE (raftdcs nodes)",
    convert: (v) => v,
  },
  {
    flag: '-compact',
    dest: 'compact',
    ours: true,
    help: 'make the node compact its log now (raftdcs nodes)',
  },
  {
    flag: '-transfer',
    dest: 'transfer',
    ours: true,
    metavar: 'TRANSFER',
    help: 'hand the leadership to this member (send it to the raftdcs leader)',
    convert: (v) => v,
  },
  {
    flag: '-timeout',
    ours: true,
    dest: 'timeoutSeconds',
    metavar: 'SECONDS',
    help: `give up after SECONDS (default ${ADMIN_DEFAULT_TIMEOUT_SECONDS}; syncobj_admin: 900)`,
    convert: (v) => {
      const n = Number(v.trim());
      if (v.trim() === '' || !Number.isFinite(n) || n <= 0) {
        throw new Error(`argument -timeout: invalid positive number of seconds: '${v}'`);
      }
      return n;
    },
  },
  {
    flag: '--json',
    dest: 'json',
    ours: true,
    help: 'print one JSON object; exit 1 unless the command succeeded',
  },
];

export const ADMIN_PROG = 'raftdcs admin';

export const ADMIN_USAGE = `usage: ${ADMIN_PROG} [-h] [-conn CONNECTION] [-pass PASSWORD] [-status]
                     [-add ADD] [-remove REMOVE] [-set_version VERSION]
                     [-members] [-snapshot FILE] [-compact]
                     [-transfer TRANSFER] [-timeout SECONDS] [--json]
`;

export function adminHelp(): string {
  const lines = [ADMIN_USAGE, 'options:'];
  const seen = new Set<string>();
  for (const o of OPTIONS) {
    if (seen.has(o.dest)) continue;
    seen.add(o.dest);
    const flags = OPTIONS.filter((x) => x.dest === o.dest)
      .map((x) => (x.metavar ? `${x.flag} ${x.metavar}` : x.flag))
      .join(', ');
    lines.push(`  ${flags.padEnd(22)}${flags.length >= 22 ? `\n${' '.repeat(24)}` : ''}${o.help}`);
  }
  return `${lines.join('\n')}\n`;
}

export class AdminUsageError extends Error {
  override readonly name = 'AdminUsageError';
}

/** Parse the arguments the argparse way (see the module comment). */
export function parseAdminArgs(argv: readonly string[]): AdminArgs {
  const out: AdminArgs = {
    connection: null,
    password: null,
    status: false,
    add: null,
    remove: null,
    version: null,
    members: false,
    snapshot: null,
    compact: false,
    transfer: null,
    timeoutSeconds: ADMIN_DEFAULT_TIMEOUT_SECONDS,
    json: false,
    help: false,
  };
  const unrecognized: string[] = [];
  const set = out as unknown as Record<string, unknown>;
  const tokens = argv.values();
  for (const token of tokens) {
    if (!looksLikeOption(token)) {
      unrecognized.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const name = eq >= 0 ? token.slice(0, eq) : token;
    const spec = findOption(name);
    if (spec === null) {
      unrecognized.push(token);
      continue;
    }
    if (!spec.convert) {
      if (eq >= 0)
        throw new AdminUsageError(
          `argument ${spec.flag}: ignored explicit argument '${token.slice(eq + 1)}'`,
        );
      set[spec.dest] = true;
      continue;
    }
    let value: string;
    if (eq >= 0) {
      value = token.slice(eq + 1);
    } else {
      const next = tokens.next(); // the option's argument: consumed here, or an error
      if (next.done || looksLikeOption(next.value)) {
        throw new AdminUsageError(`argument ${spec.flag}: expected one argument`);
      }
      value = next.value;
    }
    try {
      set[spec.dest] = spec.convert(value);
    } catch (e) {
      throw new AdminUsageError((e as Error).message);
    }
  }
  if (unrecognized.length > 0 && !out.help) {
    throw new AdminUsageError(`unrecognized arguments: ${unrecognized.join(' ')}`);
  }
  return out;
}

/** argparse: a token starting with '-' is an option unless it is a negative number or just '-'. */
function looksLikeOption(token: string): boolean {
  return token.startsWith('-') && token !== '-' && !/^-[0-9]+(\.[0-9]*)?$/.test(token);
}

function findOption(name: string): OptionSpec | null {
  const exact = OPTIONS.find((o) => o.flag === name);
  if (exact) return exact;
  const dashes = name.startsWith('--') ? 2 : 1;
  const matching = OPTIONS.filter(
    (o) => o.flag.startsWith(name) && (o.flag.startsWith('--') ? 2 : 1) === dashes && name.length > dashes,
  );
  // syncobj_admin's flags first: `-c` stays `-conn` and `-s` stays ambiguous between -status and
  // -set_version exactly as there, although -compact and -snapshot start the same way
  const theirs = matching.filter((o) => o.ours !== true);
  const candidates = theirs.length > 0 ? theirs : matching;
  const [only] = candidates;
  if (only !== undefined && candidates.length === 1) return only;
  if (candidates.length > 1) {
    throw new AdminUsageError(
      `ambiguous option: ${name} could match ${candidates.map((c) => c.flag).join(', ')}`,
    );
  }
  return null;
}

/** syncobj_admin's `checkCorrectAddress`: `host:port` split at the last colon, 0 < port < 65536. */
export function checkCorrectAddress(address: string | null): boolean {
  if (address === null) return false;
  const cut = address.lastIndexOf(':');
  if (cut < 0) return false;
  const port = pyIntFromString(address.slice(cut + 1));
  return port !== null && port > 0n && port < 65536n;
}

/** What to do: one command to send, a backup command (./admin-backup.ts), or syncobj_admin's text for why there is nothing. */
export type AdminAction =
  | { command: PyValue[] }
  | { snapshot: string }
  | { compact: true }
  | { error: string };

/** The command to send, or syncobj_admin's text for why there is none. */
export function adminCommand(args: AdminArgs): AdminAction {
  if (!checkCorrectAddress(args.connection)) return { error: 'invalid address to connect' };
  if (args.status) return { command: ['status'] };
  if (args.add) {
    if (!checkCorrectAddress(args.add)) return { error: 'invalid address to command add' };
    return { command: ['add', args.add] };
  }
  if (args.remove) {
    if (!checkCorrectAddress(args.remove)) return { error: 'invalid address to command remove' };
    return { command: ['remove', args.remove] };
  }
  if (args.version !== null) return { command: ['set_version', Number(args.version)] };
  if (args.members) return { command: ['members'] };
  if (args.snapshot !== null) {
    if (args.snapshot === '') return { error: 'invalid file to command snapshot' };
    return { snapshot: args.snapshot };
  }
  if (args.compact) return { compact: true };
  if (args.transfer) {
    if (!checkCorrectAddress(args.transfer)) return { error: 'invalid address to command transfer' };
    return { command: [TRANSFER_COMMAND, args.transfer] };
  }
  return { error: 'invalid command' };
}

/**
 * syncobj_admin's rendering of a reply: str as is, dict as `key: value` lines sorted by key (Python
 * string order: code points), else str().
 */
export function formatReply(result: PyValue): string {
  if (typeof result === 'string') return result;
  if (isDict(result)) {
    return [...result]
      .map(([k, v]) => [pyStr(k), pyStr(v)] as const)
      .sort(([a], [b]) => pyStrCompare(a, b))
      .map(([k, v]) => `${k}: ${v}`)
      .join('\n');
  }
  return pyStr(result);
}

/** Patroni's `members` reply as a table; null when the reply does not have that shape. */
export function formatMembers(result: PyValue): string | null {
  if (!Array.isArray(result) || result.length === 0) return null;
  const rows: string[][] = [];
  for (const [i, entry] of result.entries()) {
    if (!isDict(entry)) return null;
    const addr = entry.get('addr');
    const leader = entry.get('leader');
    const status = entry.get('status');
    if (typeof addr !== 'string' || typeof leader !== 'boolean' || typeof status !== 'number') return null;
    const state = status === 2 ? 'connected' : status === 0 ? 'disconnected' : `status ${status}`;
    rows.push([addr, leader ? 'yes' : 'no', state, i === result.length - 1 ? '(answering node)' : '']);
  }
  const table = [['ADDR', 'LEADER', 'STATUS', ''], ...rows];
  const widths = [0, 1, 2].map((c) => Math.max(...table.map((r) => r[c]?.length ?? 0)));
  return table
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c] ?? 0)) // (the last column has no width)
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** What happened, in syncobj_admin's words, when no reply came. */
function failureText(e: unknown): { text: string; note: string | null } {
  if (e instanceof UtilityError) {
    // syncobj_admin prints None when the address does not parse as a node or does not resolve
    // (its TcpUtility then returns no result instead of raising)
    if (
      e.code === UtilityErrorCode.InvalidAddress ||
      (e.code === UtilityErrorCode.ConnectFailed && e.message.includes('cannot resolve'))
    ) {
      return { text: 'None', note: e.message };
    }
    return { text: 'connection lost', note: e.message };
  }
  return { text: 'connection lost', note: e instanceof Error ? e.message : String(e) };
}

/** Send `command` within `-timeout`; `transfer` only to a node whose feature probe lists it. */
async function send(args: AdminArgs, command: readonly PyValue[]): Promise<PyValue> {
  const conn = args.connection as string;
  const deadline = performance.now() + args.timeoutSeconds * 1000;
  const utility = () =>
    new TcpUtility({ password: args.password, timeoutMs: Math.max(1, deadline - performance.now()) });
  if (command[0] === TRANSFER_COMMAND) {
    const probe = await utility().execute(conn, ['status', FEATURES_ARGUMENT]);
    const refusal = transferUnsupported(conn, probe);
    if (refusal !== null) return `FAIL TRANSFER ${pyStr(command[1] ?? null)}: ${refusal}`;
  }
  return utility().execute(conn, command);
}

/**
 * Why `conn` must not be sent `transfer`, from its answer to the feature probe
 * (`['status', 'raftdcs_features']`); null when it serves the command. pysyncobj answers the probe
 * with its usual status dict; an unknown command would stop its tick (docs/protocol.md §2.4), so
 * it is never sent one.
 */
export function transferUnsupported(conn: string, probe: PyValue): string | null {
  const features = featuresFromStatus(probe);
  if (features?.includes(TRANSFER_COMMAND)) return null;
  if (features !== null) return `${conn} runs a raftdcs version that cannot transfer leadership`;
  return (
    `${conn} is not a raftdcs node that can transfer leadership (a pysyncobj node: Patroni, ` +
    'patroni_raft_controller, or an older raftdcs); the command was not sent, as a pysyncobj node ' +
    'stops on a command it does not know'
  );
}

export interface AdminIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
}

/** Run `raftdcs admin` with `argv` (the arguments after `admin`); resolves to the exit code. */
export async function runAdmin(argv: readonly string[], io: AdminIo): Promise<number> {
  let args: AdminArgs;
  try {
    args = parseAdminArgs(argv);
  } catch (e) {
    if (!(e instanceof AdminUsageError)) throw e;
    io.stderr.write(ADMIN_USAGE);
    io.stderr.write(`${ADMIN_PROG}: error: ${e.message}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout.write(adminHelp());
    return 0;
  }
  const chosen = adminCommand(args);
  const json = (value: { [key: string]: Json }, ok: boolean): number => {
    io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    return ok ? 0 : 1;
  };
  if ('error' in chosen) {
    if (args.json) return json({ node: args.connection, ok: false, error: chosen.error }, false);
    io.stdout.write(`${chosen.error}\n`);
    return 0;
  }
  if ('snapshot' in chosen || 'compact' in chosen) {
    const backupArgs = {
      connection: args.connection as string,
      password: args.password,
      timeoutSeconds: args.timeoutSeconds,
      json: args.json,
    };
    return 'snapshot' in chosen
      ? runSnapshotCommand(backupArgs, chosen.snapshot, io)
      : runCompactCommand(backupArgs, io, formatReply);
  }
  let result: PyValue;
  try {
    result = await send(args, chosen.command);
  } catch (e) {
    const { text, note } = failureText(e);
    if (args.json) {
      return json(
        { node: args.connection, command: pyToJson(chosen.command), ok: false, error: text, detail: note },
        false,
      );
    }
    if (note !== null && text === 'None') io.stderr.write(`WARNING: ${note}\n`);
    io.stdout.write(`${text}\n`);
    return 0;
  }
  const [word] = chosen.command;
  if (args.json) {
    const ok =
      word === 'status'
        ? isDict(result)
        : word === 'members'
          ? Array.isArray(result)
          : typeof result === 'string' && result.startsWith('SUCCESS ');
    return json(
      { node: args.connection, command: pyToJson(chosen.command), ok, reply: pyToJson(result) },
      ok,
    );
  }
  const text = (word === 'members' ? formatMembers(result) : null) ?? formatReply(result);
  io.stdout.write(`${text}\n`);
  return 0;
}
