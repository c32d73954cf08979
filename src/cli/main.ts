#!/usr/bin/env node
/**
 * `raftdcs <command>` — the command-line entry point (the package's `bin`; `npm run build` turns
 * this file into dist/cli/main.js, which keeps the shebang and runs with plain `node`).
 *
 *   raftdcs controller [-c] <config>   drop-in for patroni_raft_controller (./controller.ts)
 *   raftdcs admin -conn host:port …    syncobj_admin with the same flags and output (./admin.ts)
 *   raftdcs demo [--patroni]            a local 3-node cluster with a live view (./demo/)
 *   raftdcs ctl [-c file] <command> …   patronictl for Raft clusters (./ctl/index.ts, docs/ctl.md)
 *   raftdcs recover -c <config> --force-new-cluster
 *                                       rebuild a cluster that lost its quorum from one survivor's
 *                                       stopped data dir (./recover.ts, docs/recover.md)
 *   raftdcs recover -c <config> --from-snapshot <file>
 *                                       a new data dir from a snapshot file (./recover-snapshot.ts)
 *   raftdcs snapshot status <file>      what a snapshot file (`admin -snapshot`) holds (./snapshot.ts)
 *
 * This module only wires arguments to the commands and turns their results into exit codes; it
 * must never hold logic a test would want to call in-process.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { RAFTDCS_VERSION as VERSION } from '../version.js';
import { runAdmin } from './admin.js';
import { runController } from './controller.js';
import { ctlCommand } from './ctl/index.js';
import { runDemo } from './demo/kv-demo.js';
import { runPatroniDemo } from './demo/patroni-demo.js';
import { ExitCode } from './exit-codes.js';
import { LOG_FORMATS, type LogFormat } from './logging.js';
import { runRecover } from './recover.js';
import { runSnapshotStatus } from './snapshot.js';

function nonNegativeInt(value: string): number {
  if (!/^[0-9]+$/.test(value.trim())) throw new InvalidArgumentError('expected a whole number >= 0');
  return Number(value.trim());
}

export function buildProgram(): Command {
  const program = new Command('raftdcs')
    .description("Patroni's Raft DCS and a pysyncobj-compatible Raft engine")
    .version(VERSION, '-V, --version')
    .enablePositionalOptions()
    .showHelpAfterError();
  addControllerCommand(program);
  addAdminCommand(program);
  program.addCommand(ctlCommand());
  addRecoverCommand(program);
  addSnapshotCommand(program);
  addDemoCommand(program);
  return program;
}

/** `raftdcs controller`: a voting Raft node keeping the DCS (patroni_raft_controller) */
function addControllerCommand(program: Command): void {
  program
    .command('controller')
    .description(
      'run a voting Raft node that keeps the DCS without PostgreSQL (drop-in for patroni_raft_controller)',
    )
    .version(`raftdcs controller ${VERSION}`, '--version', 'print the version and exit')
    .argument(
      '[configfile]',
      'YAML file or directory of *.yml/*.yaml (else PATRONI_CONFIGURATION, else the environment)',
    )
    .option('-c, --config <path>', 'the configuration file or directory (same as configfile)')
    .option(
      '--http <host:port>',
      'serve GET /status, /health, /readyz and /metrics there (overrides raftdcs.http)',
    )
    .option(
      '--max-bind-retries <n>',
      'attempts to bind the Raft port before giving up, 0 = forever (default 5; raftdcs.max_bind_retries)',
      nonNegativeInt,
    )
    .option(
      '--log-level <level>',
      'DEBUG, INFO, WARNING, ERROR, CRITICAL (overrides log.level and PATRONI_LOG_LEVEL)',
    )
    .addOption(
      new Option('--log-format <format>', 'auto: pretty on a terminal, JSON lines otherwise')
        .choices(LOG_FORMATS)
        .default('auto'),
    )
    .option(
      '--unsafe-allow-partial-data',
      'start although the journal is missing or empty, or begins after the dump (forgets the vote and acknowledged entries; see docs/controller.md)',
    )
    .action(
      async (
        configfile: string | undefined,
        opts: {
          config?: string;
          http?: string;
          maxBindRetries?: number;
          logLevel?: string;
          logFormat: LogFormat;
          unsafeAllowPartialData?: boolean;
        },
      ) => {
        if (configfile !== undefined && opts.config !== undefined && configfile !== opts.config) {
          process.stderr.write(
            'raftdcs controller: give the configuration once (-c PATH or PATH), not both\n',
          );
          process.exit(ExitCode.Config);
        }
        const code = await runController({
          configPath: opts.config ?? configfile ?? null,
          http: opts.http ?? null,
          maxBindRetries: opts.maxBindRetries ?? null,
          logLevel: opts.logLevel ?? null,
          logFormat: opts.logFormat,
          unsafeAllowPartialData: opts.unsafeAllowPartialData === true,
        });
        process.exit(code);
      },
    );
}

/** `raftdcs admin`: syncobj_admin */
function addAdminCommand(program: Command): void {
  program
    .command('admin')
    .description(
      'syncobj_admin: -conn host:port [-pass P] -status|-add A|-remove A|-set_version N|-members|-transfer A|-snapshot FILE|-compact [--json]',
    )
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .passThroughOptions()
    .argument('[args...]', 'syncobj_admin arguments (raftdcs admin -h lists them)')
    .action(async (args: string[]) => {
      process.exitCode = await runAdmin(args, { stdout: process.stdout, stderr: process.stderr });
    });
}

function positiveSeconds(value: string): number {
  const n = Number(value.trim());
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) {
    throw new InvalidArgumentError('expected a positive number of seconds');
  }
  return n;
}

/** `raftdcs recover`: rebuild a cluster that lost its quorum from one survivor's stopped data dir */
function addRecoverCommand(program: Command): void {
  program
    .command('recover')
    .description(
      "after losing quorum for good: rewrite one stopped survivor's data dir as a one-node cluster that keeps every key (docs/recover.md)",
    )
    .argument('[configfile]', "the node's configuration, as its controller uses it (YAML file or directory)")
    .option('-c, --config <path>', 'the configuration file or directory (same as configfile)')
    .option(
      '--force-new-cluster',
      'rewrite the membership to this node alone (or --members), persist a new term, keep the old files as backups',
    )
    .option(
      '--members <list>',
      'the new membership, comma-separated host:port, self_addr included (default: self_addr alone)',
    )
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--dry-run', 'check and print what would be kept and lost; change nothing')
    .option(
      '--unsafe-allow-partial-data',
      'rebuild from what an incomplete data dir still holds (a dump without its journal, …)',
    )
    .option(
      '--for-pysyncobj',
      'the node is run by Patroni or patroni_raft_controller (pysyncobj): write the dump only, leave its journal',
    )
    .option(
      '--check-timeout <seconds>',
      'how long each old member gets to answer the status check (default 3)',
      positiveSeconds,
    )
    .option(
      '--from-snapshot <file>',
      "build this node's data dir, which must be empty or absent, from a snapshot file (raftdcs admin -snapshot) instead",
    )
    .addHelpText(
      'after',
      `
Run it on one surviving member while it is stopped, when a majority of the members is gone for good.
It refuses (exit 5, nothing changed) while the node runs, when its data files are incomplete, and
when a majority of the old members still answers. Then start the node as before and add the other
members one by one with empty data dirs (raftdcs admin -conn <this node> -add <host:port>).

With --from-snapshot FILE it restores a backup instead: the node's data dir (empty or absent) gets
the snapshot's state as a one-node cluster (or --members); nothing else is read or asked.

Exit codes: 0 done (or dry run), 1 bad configuration or arguments, or not confirmed,
            4 writing failed, 5 refused.`,
    )
    .action(
      async (
        configfile: string | undefined,
        opts: {
          config?: string;
          forceNewCluster?: boolean;
          members?: string;
          yes?: boolean;
          dryRun?: boolean;
          unsafeAllowPartialData?: boolean;
          forPysyncobj?: boolean;
          checkTimeout?: number;
          fromSnapshot?: string;
        },
      ) => {
        if (configfile !== undefined && opts.config !== undefined && configfile !== opts.config) {
          process.stderr.write('raftdcs recover: give the configuration once (-c PATH or PATH), not both\n');
          process.exitCode = ExitCode.Config;
          return;
        }
        process.exitCode = await runRecover({
          configPath: opts.config ?? configfile ?? null,
          forceNewCluster: opts.forceNewCluster === true,
          members: opts.members ?? null,
          yes: opts.yes === true,
          dryRun: opts.dryRun === true,
          allowPartialData: opts.unsafeAllowPartialData === true,
          forPysyncobj: opts.forPysyncobj === true,
          fromSnapshot: opts.fromSnapshot ?? null,
          checkTimeoutMs: (opts.checkTimeout ?? 3) * 1000,
          stdin: process.stdin,
          stdout: process.stdout,
          stderr: process.stderr,
        });
      },
    );
}

/** `raftdcs snapshot status <file>`: what a snapshot file holds */
function addSnapshotCommand(program: Command): void {
  const snapshot = program
    .command('snapshot')
    .description('snapshot files (backups written by raftdcs admin -snapshot; docs/backups.md)');
  snapshot
    .command('status')
    .description('check a snapshot file and print what it holds: index, term, membership, keys, checksum')
    .argument('<file>', 'the snapshot file')
    .option('--json', 'print one JSON object')
    .addHelpText(
      'after',
      '\nExit codes: 0 the file is intact, 1 bad arguments, 6 unreadable, truncated or damaged.',
    )
    .action(async (file: string, opts: { json?: boolean }) => {
      process.exitCode = await runSnapshotStatus({
        file,
        json: opts.json === true,
        stdout: process.stdout,
        stderr: process.stderr,
      });
    });
}

/** A comma-separated list of ports, or null (after saying why on stderr). */
function portList(text: string, option: string, count?: number): number[] | null {
  const ports = text.split(',').map((p) => Number(p.trim()));
  if (
    ports.length < 1 ||
    (count !== undefined && ports.length !== count) ||
    ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)
  ) {
    process.stderr.write(
      `raftdcs demo: ${option} must be a comma-separated list of ${count ?? ''}${count ? ' ' : ''}ports, got ${text}\n`,
    );
    return null;
  }
  return ports;
}

interface DemoCliOptions {
  patroni?: boolean;
  dir?: string;
  ports?: string;
  apiPorts: string;
  pgPorts: string;
  patroniBin?: string;
  pgBinDir?: string;
  runFor?: string;
}

/** `raftdcs demo [--patroni]`: a local 3-node cluster (with PostgreSQL under Patroni) and a live view */
function addDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('a local 3-node cluster on 127.0.0.1 with a live status view (what `npm start` runs)')
    .option('--patroni', 'also 3 PostgreSQL nodes under Patroni, whose DCS is the raftdcs cluster')
    .option(
      '--dir <path>',
      'where the nodes keep their data and logs (default: .raftdcs-demo, .raftdcs-demo-patroni)',
    )
    .option(
      '--ports <list>',
      'the three Raft ports on 127.0.0.1 (default: 7101,7102,7103; 7111,7112,7113 with --patroni)',
    )
    .option('--api-ports <list>', 'with --patroni: the Patroni REST API ports', '8111,8112,8113')
    .option('--pg-ports <list>', 'with --patroni: the PostgreSQL ports', '5441,5442,5443')
    .option('--patroni-bin <path>', 'with --patroni: the patroni program (default: patroni on PATH)')
    .option(
      '--pg-bin-dir <path>',
      "with --patroni: PostgreSQL's bin directory (default: newest /usr/lib/postgresql/*/bin)",
    )
    .option('--run-for <seconds>', 'stop by itself after this long')
    .action(async (opts: DemoCliOptions) => {
      const runForMs = opts.runFor === undefined ? undefined : Number(opts.runFor) * 1000;
      const ports = portList(opts.ports ?? (opts.patroni ? '7111,7112,7113' : '7101,7102,7103'), '--ports');
      if (!opts.patroni) {
        process.exitCode = ports
          ? await runDemo({ dir: opts.dir ?? '.raftdcs-demo', ports, runForMs })
          : ExitCode.Config;
        return;
      }
      const apiPorts = portList(opts.apiPorts, '--api-ports', 3);
      const pgPorts = portList(opts.pgPorts, '--pg-ports', 3);
      if (!ports || !apiPorts || !pgPorts) {
        process.exitCode = ExitCode.Config;
        return;
      }
      process.exitCode = await runPatroniDemo({
        dir: opts.dir ?? '.raftdcs-demo-patroni',
        raftPorts: ports,
        apiPorts,
        pgPorts,
        patroniBin: opts.patroniBin,
        pgBinDir: opts.pgBinDir,
        runForMs,
      });
    });
}

await buildProgram().parseAsync(process.argv);
