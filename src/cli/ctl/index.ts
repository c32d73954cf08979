/**
 * `raftdcs ctl` — patronictl for Patroni clusters on the Raft DCS (docs/ctl.md).
 *
 *   raftdcs ctl [-c FILE] [--timeout S] [-k] [--api-timeout S] COMMAND …
 *
 *   list [NAMES…] [--group N] [-e] [-t] [-f FMT] [-W | -w S]    topology [NAMES…]
 *   show-config [NAME]      edit-config [NAME] [-s K=V]… [-p K=V]… [--apply F] [--replace F] [-q] [--force]
 *   switchover [NAME] [--leader L] [--candidate C] [--scheduled T] [--force]
 *   failover [NAME] [--candidate C] [--force]     history [NAME] [-f FMT]     remove NAME [-f FMT]
 *   dump [PREFIX] [-f FMT]
 *   pause [NAME] [--wait]   resume [NAME] [--wait]
 *   restart NAME [MEMBERS…] [-r ROLE] [--any] [--scheduled T] [--pg-version V] [--pending] [--timeout T] [--force]
 *   reload NAME [MEMBERS…] [-r ROLE] [--force]    reinit NAME [MEMBERS…] [--wait] [--force]
 *   flush NAME [MEMBERS…] restart|switchover [-r ROLE] [--force]
 *   version [NAME [MEMBERS…]]
 *
 * Arguments follow patronictl's conventions (click's): `-c/--config-file` (also
 * `PATRONICTL_CONFIG_FILE`), the options of `ctl` itself before the command, the cluster name as
 * a positional argument overriding `scope`, `--group` for MPP (Citus), `-f
 * pretty|tsv|json|yaml`, `-r/--role leader|primary|standby-leader|replica|standby|any|master`.
 * Exit codes as patronictl's: 0 done, 1 an error (`Error: …` on stderr) or an aborted prompt
 * (`Aborted!`), 2 bad arguments.
 *
 * The commands read and write the DCS through a read-only Raft node; pause, resume, restart,
 * reload, reinit, flush and version talk to the members' REST APIs (the `api_url` of their member
 * keys). This module only wires arguments to the commands (./read-commands.ts, ./edit-config.ts,
 * ./failover.ts, ./pause.ts, ./restart.ts, ./reload.ts, ./reinit.ts, ./flush.ts, ./version.ts)
 * and turns their outcome into an exit code.
 */
import { Command, type CommanderError, InvalidArgumentError, Option } from 'commander';
import { pyIntFromString } from '../../py/numbers.js';
import { CtlError, defaultConfigPath } from './config.js';
import { editConfig } from './edit-config.js';
import { DEFAULT_FAILOVER_WAIT_SECONDS, failoverOrSwitchover, removeCluster } from './failover.js';
import { FLUSH_TARGETS, type FlushTarget, flushScheduled } from './flush.js';
import { ROLE_CHOICES, type RoleChoice } from './member-select.js';
import { OUTPUT_FORMATS, type OutputFormat } from './output.js';
import { togglePause } from './pause.js';
import { Aborted } from './prompt.js';
import { dumpKeys, listMembers, showConfig, showHistory } from './read-commands.js';
import { reinitMembers } from './reinit.js';
import { reloadMembers } from './reload.js';
import { RestRequestError } from './rest-errors.js';
import { DEFAULT_API_TIMEOUT_SECONDS } from './rest-settings.js';
import { restartMembers } from './restart.js';
import { type CtlIo, CtlSession, DEFAULT_TIMEOUT_SECONDS } from './session.js';
import { showVersion } from './version.js';

/** click's `int` type: Python's `int(value)`. */
function integer(value: string): number {
  const n = pyIntFromString(value);
  if (n === null) throw new InvalidArgumentError(`'${value}' is not a valid integer.`);
  return Number(n);
}

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`'${value}' is not a valid number of seconds.`);
  }
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

const formatOption = () =>
  new Option('-f, --format <format>', 'output format').choices(OUTPUT_FORMATS).default('pretty');
const groupOption = () => new Option('--group <n>', 'Citus (MPP) group').argParser(integer);

interface Globals {
  readonly configFile?: string;
  readonly timeout?: number;
  readonly insecure?: boolean;
  readonly apiTimeout?: number;
}

async function flush(stream: { write(s: string, cb: () => void): unknown }): Promise<void> {
  await new Promise<void>((resolve) => {
    stream.write('', () => resolve());
  });
}

/** Run one command in a session; print its error; exit with its code. */
async function run(io: CtlIo, cmd: Command, body: (s: CtlSession) => Promise<number>): Promise<void> {
  // a closed pipe (`| head`) ends the command quietly, as it ends patronictl's output
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  // the options of `ctl` itself (a command's own `--timeout` is not the global one)
  const globals = (cmd.parent?.opts() ?? {}) as Globals;
  const session = new CtlSession(io, {
    configFile: globals.configFile ?? null,
    timeout: globals.timeout ?? null,
    insecure: globals.insecure ?? false,
    apiTimeout: globals.apiTimeout ?? null,
  });
  let code = 1;
  try {
    code = await body(session);
  } catch (e) {
    if (e instanceof Aborted) io.stderr.write('Aborted!\n');
    else if (e instanceof CtlError || e instanceof RestRequestError) io.stderr.write(`Error: ${e.message}\n`);
    else {
      const err = e instanceof Error ? e : new Error(String(e));
      io.stderr.write(`Error: ${err.message}\n`);
      session.log.debug({ stack: err.stack }, 'unexpected error');
    }
  } finally {
    await session.close().catch(() => undefined);
  }
  await flush(process.stdout);
  await flush(process.stderr);
  process.exit(code);
}

/** click's usage errors exit with 2; help and version with 0. */
function exitOverride(err: CommanderError): never {
  if (
    err.code === 'commander.helpDisplayed' ||
    err.code === 'commander.help' ||
    err.code === 'commander.version'
  ) {
    process.exit(0);
  }
  process.exit(err.exitCode === 0 ? 0 : 2);
}

export function ctlCommand(
  io: CtlIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env },
): Command {
  const ctl = new Command('ctl')
    .description(
      'patronictl for Patroni clusters on the Raft DCS (reads and writes the DCS through a read-only Raft node)',
    )
    .option(
      '-c, --config-file <path>',
      `configuration file (default: $PATRONICTL_CONFIG_FILE, else ${defaultConfigPath()})`,
    )
    .option(
      '--timeout <seconds>',
      `how long to wait for a Raft leader before giving up (default ${DEFAULT_TIMEOUT_SECONDS})`,
      seconds,
    )
    .option('-k, --insecure', 'Allow connections to SSL sites without certs')
    .option(
      '--api-timeout <seconds>',
      `how long to wait for a member's REST API to connect and to answer (default ${DEFAULT_API_TIMEOUT_SECONDS})`,
      seconds,
    )
    .enablePositionalOptions()
    .exitOverride(exitOverride)
    .showHelpAfterError('(add --help for usage)');
  addListCommand(ctl, io, 'list', false);
  addListCommand(ctl, io, 'topology', true);
  addShowConfigCommand(ctl, io);
  addEditConfigCommand(ctl, io);
  addFailoverCommand(ctl, io, 'failover');
  addFailoverCommand(ctl, io, 'switchover');
  addHistoryCommand(ctl, io);
  addRemoveCommand(ctl, io);
  addDumpCommand(ctl, io);
  addPauseCommand(ctl, io, true);
  addPauseCommand(ctl, io, false);
  addRestartCommand(ctl, io);
  addReloadCommand(ctl, io);
  addReinitCommand(ctl, io);
  addFlushCommand(ctl, io);
  addVersionCommand(ctl, io);
  return ctl;
}

/** `list` / `topology`: the members of clusters */
function addListCommand(ctl: Command, io: CtlIo, name: string, topology: boolean): void {
  const c = ctl
    .command(name)
    .description(
      topology ? 'Prints ASCII topology for given cluster' : 'List the Patroni members for a given Patroni',
    )
    .argument('[cluster-names...]', 'clusters to show (default: scope)')
    .addOption(groupOption())
    .option('-W', 'Auto update the screen every 2 seconds')
    .option('-w, --watch <seconds>', 'Auto update the screen every X seconds', seconds);
  if (!topology) {
    c.option('-e, --extended', 'Show some extra information')
      .option('-t, --timestamp', 'Print timestamp')
      .addOption(formatOption());
  }
  c.action(async (names: string[], o: Record<string, unknown>, cmd: Command) => {
    await run(io, cmd, (s) =>
      listMembers(s, names, {
        group: (o.group as number | undefined) ?? null,
        extended: Boolean(o.extended),
        timestamp: Boolean(o.timestamp),
        format: topology ? 'topology' : (o.format as OutputFormat),
        W: Boolean(o.W),
        watch: (o.watch as number | undefined) ?? null,
      }),
    );
  });
}

/** `show-config`: a cluster's configuration */
function addShowConfigCommand(ctl: Command, io: CtlIo): void {
  ctl
    .command('show-config')
    .description('Show cluster configuration')
    .argument('[cluster-name]', 'the cluster (default: scope)')
    .addOption(groupOption())
    .action(async (name: string | undefined, o: { group?: number }, cmd: Command) => {
      await run(io, cmd, (s) => showConfig(s, name, o.group ?? null));
    });
}

/** `edit-config`: change a cluster's configuration */
function addEditConfigCommand(ctl: Command, io: CtlIo): void {
  ctl
    .command('edit-config')
    .description('Edit cluster configuration')
    .argument('[cluster-name]', 'the cluster (default: scope)')
    .addOption(groupOption())
    .option('-q, --quiet', 'Do not show changes')
    .option(
      '-s, --set <key=value>',
      'Set specific configuration value. Can be specified multiple times',
      collect,
    )
    .option(
      '-p, --pg <name=value>',
      'Set specific PostgreSQL parameter value. Shorthand for -s postgresql.parameters. Can be specified multiple times',
      collect,
    )
    .option('--apply <file>', 'Apply configuration from file. Use - for stdin.')
    .option(
      '--replace <file>',
      'Apply configuration from file, replacing existing configuration. Use - for stdin.',
    )
    .option('--force', 'Do not ask for confirmation at any point')
    .action(
      async (
        name: string | undefined,
        o: {
          group?: number;
          quiet?: boolean;
          set?: string[];
          pg?: string[];
          apply?: string;
          replace?: string;
          force?: boolean;
        },
        cmd: Command,
      ) => {
        await run(io, cmd, (s) =>
          editConfig(s, name, {
            group: o.group ?? null,
            quiet: Boolean(o.quiet),
            set: o.set ?? [],
            pg: o.pg ?? [],
            apply: o.apply ?? null,
            replace: o.replace ?? null,
            force: Boolean(o.force),
          }),
        );
      },
    );
}

/** `failover` / `switchover`: write the failover key and watch it being acted on */
function addFailoverCommand(ctl: Command, io: CtlIo, action: 'switchover' | 'failover'): void {
  const c = ctl
    .command(action)
    .description(action === 'switchover' ? 'Switchover to a replica' : 'Failover to a replica')
    .argument('[cluster-name]', 'the cluster (default: scope)')
    .addOption(groupOption())
    .option('--leader <name>', 'The name of the current leader')
    .addOption(new Option('--primary <name>', 'same as --leader').hideHelp())
    .addOption(new Option('--master <name>', 'same as --leader').hideHelp())
    .option('--candidate <name>', 'The name of the candidate');
  if (action === 'switchover') {
    c.option(
      '--scheduled <time>',
      'Timestamp of a scheduled switchover in unambiguous format (e.g. ISO 8601)',
    );
  }
  c.option('--force', 'Do not ask for confirmation at any point')
    .option(
      '--wait <seconds>',
      `how long to watch for a member acting on the failover key (default ${DEFAULT_FAILOVER_WAIT_SECONDS})`,
      seconds,
    )
    .action(async (name: string | undefined, o: Record<string, unknown>, cmd: Command) => {
      const leader = (o.leader ?? o.primary ?? o.master ?? null) as string | null;
      // patronictl: `failover --leader X` is a switchover
      const effective = action === 'failover' && leader ? 'switchover' : action;
      await run(io, cmd, (s) =>
        failoverOrSwitchover(s, effective, name, {
          group: (o.group as number | undefined) ?? null,
          leader,
          candidate: (o.candidate as string | undefined) ?? null,
          scheduled: (o.scheduled as string | undefined) ?? null,
          force: Boolean(o.force),
          wait: (o.wait as number | undefined) ?? null,
        }),
      );
    });
}

/** `history`: the failovers and switchovers of a cluster */
function addHistoryCommand(ctl: Command, io: CtlIo): void {
  ctl
    .command('history')
    .description('Show the history of failovers/switchovers')
    .argument('[cluster-name]', 'the cluster (default: scope)')
    .addOption(groupOption())
    .addOption(formatOption())
    .action(async (name: string | undefined, o: { group?: number; format: OutputFormat }, cmd: Command) => {
      await run(io, cmd, (s) => showHistory(s, name, o.group ?? null, o.format));
    });
}

/** `remove`: delete a cluster from the DCS */
function addRemoveCommand(ctl: Command, io: CtlIo): void {
  ctl
    .command('remove')
    .description('Remove cluster from DCS')
    .argument('<cluster-name>', 'the cluster to remove')
    .addOption(groupOption())
    .addOption(formatOption())
    .action(async (name: string, o: { group?: number; format: OutputFormat }, cmd: Command) => {
      await run(io, cmd, (s) => removeCluster(s, name, o.group ?? null, o.format));
    });
}

/** `dump`: every key under a prefix */
function addDumpCommand(ctl: Command, io: CtlIo): void {
  ctl
    .command('dump')
    .description(
      'Show every key under a prefix (default: the cluster path) with its Raft index, created/updated times and TTL left',
    )
    .argument('[prefix]', 'an absolute prefix (/, /service/), or one relative to the cluster path (members/)')
    .addOption(groupOption())
    .addOption(formatOption())
    .action(async (prefix: string | undefined, o: { group?: number; format: OutputFormat }, cmd: Command) => {
      await run(io, cmd, (s) => dumpKeys(s, prefix, { group: o.group ?? null, format: o.format }));
    });
}

const roleOption = (what: string) =>
  new Option('-r, --role <role>', `${what} only members with this role`).choices(ROLE_CHOICES).default('any');
const forceOption = () => new Option('--force', 'Do not ask for confirmation at any point');

/** `pause` / `resume`: maintenance mode through a member's REST API */
function addPauseCommand(ctl: Command, io: CtlIo, paused: boolean): void {
  ctl
    .command(paused ? 'pause' : 'resume')
    .description(paused ? 'Disable auto failover' : 'Resume auto failover')
    .argument('[cluster-name]', 'the cluster (default: scope)')
    .addOption(groupOption())
    .option('--wait', `Wait until pause is ${paused ? 'applied' : 'cleared'} on all nodes`)
    .action(async (name: string | undefined, o: { group?: number; wait?: boolean }, cmd: Command) => {
      await run(io, cmd, (s) => togglePause(s, name, o.group ?? null, paused, Boolean(o.wait)));
    });
}

/** `restart`: restart PostgreSQL on members (now or scheduled) */
function addRestartCommand(ctl: Command, io: CtlIo): void {
  ctl
    .command('restart')
    .description('Restart cluster member')
    .argument('<cluster-name>', 'the cluster')
    .argument('[member-names...]', 'the members (default: all with the role)')
    .addOption(groupOption())
    .addOption(roleOption('Restart'))
    .option('--any', 'Restart a single member only')
    .option('--scheduled <time>', 'Timestamp of a scheduled restart in unambiguous format (e.g. ISO 8601)')
    .option('--pg-version <version>', 'Restart if the PostgreSQL version is less than provided (e.g. 9.5.2)')
    .option('--pending', 'Restart if pending')
    .option(
      '--timeout <timeout>',
      'Return error and fail over if necessary when restarting takes longer than this.',
    )
    .addOption(forceOption())
    .action(async (name: string, members: string[], o: Record<string, unknown>, cmd: Command) => {
      await run(io, cmd, (s) =>
        restartMembers(s, name, members, {
          group: (o.group as number | undefined) ?? null,
          role: o.role as RoleChoice,
          any: Boolean(o.any),
          scheduled: (o.scheduled as string | undefined) ?? null,
          pgVersion: (o.pgVersion as string | undefined) ?? null,
          pending: Boolean(o.pending),
          timeout: (o.timeout as string | undefined) ?? null,
          force: Boolean(o.force),
        }),
      );
    });
}

/** `reload`: members re-read their configuration */
function addReloadCommand(ctl: Command, io: CtlIo): void {
  ctl
    .command('reload')
    .description('Reload cluster member configuration')
    .argument('<cluster-name>', 'the cluster')
    .argument('[member-names...]', 'the members (default: all with the role)')
    .addOption(groupOption())
    .addOption(roleOption('Reload'))
    .addOption(forceOption())
    .action(
      async (
        name: string,
        members: string[],
        o: { group?: number; role: RoleChoice; force?: boolean },
        cmd: Command,
      ) => {
        await run(io, cmd, (s) =>
          reloadMembers(s, name, members, { group: o.group ?? null, role: o.role, force: Boolean(o.force) }),
        );
      },
    );
}

/** `reinit`: rebuild replicas from the leader */
function addReinitCommand(ctl: Command, io: CtlIo): void {
  ctl
    .command('reinit')
    .description('Reinitialize cluster member')
    .argument('<cluster-name>', 'the cluster')
    .argument('[member-names...]', 'the replicas to rebuild (asked for when none is given)')
    .addOption(groupOption())
    .addOption(forceOption())
    .option('--wait', 'Wait until reinitialization completes')
    .action(
      async (
        name: string,
        members: string[],
        o: { group?: number; force?: boolean; wait?: boolean },
        cmd: Command,
      ) => {
        await run(io, cmd, (s) =>
          reinitMembers(s, name, members, {
            group: o.group ?? null,
            force: Boolean(o.force),
            wait: Boolean(o.wait),
          }),
        );
      },
    );
}

/** `flush`: discard a scheduled restart or switchover */
function addFlushCommand(ctl: Command, io: CtlIo): void {
  ctl
    .command('flush')
    .description('Discard scheduled events')
    .usage('[options] <cluster-name> [member-names...] {restart|switchover}')
    .argument('<cluster-name>', 'the cluster')
    .argument(
      '<members-and-target...>',
      'the members (default: all with the role), then restart or switchover',
    )
    .addOption(groupOption())
    .addOption(roleOption('Flush'))
    .addOption(forceOption())
    .action(
      async (
        name: string,
        rest: string[],
        o: { group?: number; role: RoleChoice; force?: boolean },
        cmd: Command,
      ) => {
        const what = rest.at(-1) ?? '';
        if (!(FLUSH_TARGETS as readonly string[]).includes(what)) {
          cmd.error(
            `error: invalid value for '{restart|switchover}': '${what}' is not one of 'restart', 'switchover'.`,
            { exitCode: 2 },
          );
        }
        await run(io, cmd, (s) =>
          flushScheduled(s, name, rest.slice(0, -1), what as FlushTarget, {
            group: o.group ?? null,
            role: o.role,
            force: Boolean(o.force),
          }),
        );
      },
    );
}

/** `version`: ours, and each member's Patroni and PostgreSQL versions */
function addVersionCommand(ctl: Command, io: CtlIo): void {
  ctl
    .command('version')
    .description('Output version of raftdcs ctl or of the Patroni members of a cluster')
    .argument('[cluster-name]', 'the cluster whose members to ask (none: only our version)')
    .argument('[member-names...]', 'only these members')
    .addOption(groupOption())
    .action(async (name: string | undefined, members: string[], o: { group?: number }, cmd: Command) => {
      await run(io, cmd, (s) => showVersion(s, name, members, o.group ?? null));
    });
}
