/**
 * `raftdcs ctl` — patronictl for Patroni clusters on the Raft DCS (docs/ctl.md).
 *
 *   raftdcs ctl [-c FILE] [--timeout S] list [NAMES…] [--group N] [-e] [-t] [-f FMT] [-W | -w S]
 *   raftdcs ctl topology [NAMES…]            raftdcs ctl show-config [NAME]
 *   raftdcs ctl edit-config [NAME] [-s K=V]… [-p K=V]… [--apply F] [--replace F] [-q] [--force]
 *   raftdcs ctl switchover [NAME] [--leader L] [--candidate C] [--scheduled T] [--force]
 *   raftdcs ctl failover [NAME] [--candidate C] [--force]
 *   raftdcs ctl history [NAME] [-f FMT]      raftdcs ctl remove NAME [-f FMT]
 *   raftdcs ctl dump [PREFIX] [-f FMT]
 *
 * Arguments follow patronictl's conventions (click's): `-c/--config-file` (also
 * `PATRONICTL_CONFIG_FILE`), the cluster name as a positional argument overriding `scope`,
 * `--group` for MPP (Citus), `-f pretty|tsv|json|yaml`. Exit codes as patronictl's: 0 done, 1 an
 * error (`Error: …` on stderr) or an aborted prompt (`Aborted!`), 2 bad arguments.
 *
 * This module only wires arguments to the commands (./read-commands.ts, ./edit-config.ts,
 * ./failover.ts) and turns their outcome into an exit code.
 */
import { Command, type CommanderError, InvalidArgumentError, Option } from 'commander';
import { pyIntFromString } from '../../py/numbers.js';
import { CtlError, defaultConfigPath } from './config.js';
import { editConfig } from './edit-config.js';
import { DEFAULT_FAILOVER_WAIT_SECONDS, failoverOrSwitchover, removeCluster } from './failover.js';
import { OUTPUT_FORMATS, type OutputFormat } from './output.js';
import { Aborted } from './prompt.js';
import { dumpKeys, listMembers, showConfig, showHistory } from './read-commands.js';
import { type CtlIo, CtlSession, DEFAULT_TIMEOUT_SECONDS } from './session.js';

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
  const globals = cmd.optsWithGlobals() as Globals;
  const session = new CtlSession(io, {
    configFile: globals.configFile ?? null,
    timeout: globals.timeout ?? null,
  });
  let code = 1;
  try {
    code = await body(session);
  } catch (e) {
    if (e instanceof Aborted) io.stderr.write('Aborted!\n');
    else if (e instanceof CtlError) io.stderr.write(`Error: ${e.message}\n`);
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
