/**
 * The utility commands a SyncObj node serves (pysyncobj's `syncobj_admin` protocol, docs/protocol.md
 * §6): `status`, `add`, `remove`, `set_version`, raftdcs's `transfer`, and any a subclass registers
 * (Patroni's `members`, raftdcs's backup commands). `['status', 'raftdcs_features']` answers the
 * status dict plus the list of raftdcs's own commands registered here (the backup commands of
 * snapshot/utility-protocol.ts, and `transfer`).
 *
 * What it is for: mapping a command name and its arguments to the node's action, and the outcome to
 * pysyncobj's reply text (`SUCCESS ADD host:port`, `FAIL REMOVE host:port`, ...).
 *
 * What it must never do: let a handler's exception escape (it becomes the reply), or change the
 * cluster by any other way than the node's own proposals (`UtilityHost`).
 */
import { type PyDict, type PyValue, pyStr } from '../wire/value.js';
import { FailReason } from './core/types.js';
import { RuntimeFailReason } from './runtime/outcome.js';
import { FEATURES_ARGUMENT, FEATURES_KEY, RAFTDCS_UTILITY_COMMANDS } from './snapshot/utility-protocol.js';
import { SyncObjError } from './syncobj-error.js';
import { formatUtilityResult } from './transport/utility.js';

/** Sends the answer to a utility command (once). */
export type UtilityReply = (value: PyValue) => void;

/** Serves one utility command. */
export type UtilityHandler = (args: readonly PyValue[], reply: UtilityReply) => void;

/** What the built-in commands need from the node. */
export interface UtilityHost {
  /** this node's address (null: a read-only node) */
  readonly selfAddress: string | null;
  /** whether `add`/`remove` are allowed (the configuration's `dynamicMembershipChange`) */
  dynamicMembershipChange(): boolean;
  statusDict(): PyDict;
  /** propose a membership change; rejects with a SyncObjError when it fails */
  membershipChange(op: 'add' | 'rem', address: string): Promise<void>;
  /** propose a code version; rejects with a SyncObjError when it fails */
  setCodeVersion(version: number): Promise<void>;
  /** hand the leadership to `address`; rejects with an error saying why it did not happen */
  transferLeadership(address: string): Promise<void>;
}

/**
 * raftdcs's leadership transfer (docs/protocol.md §7.12). Like the backup commands, a client sends
 * it only to a node whose feature probe lists it: a pysyncobj node stops on a command it does not
 * know (docs/protocol.md §2.4).
 */
export const TRANSFER_COMMAND = 'transfer';

/** The raftdcs-only commands the feature probe may list (those registered on the node). */
const RAFTDCS_COMMANDS: readonly string[] = [...RAFTDCS_UTILITY_COMMANDS, TRANSFER_COMMAND];

/** The registry of utility commands of one node, with the built-in ones registered. */
export class UtilityCommands {
  private readonly handlers = new Map<string, UtilityHandler>();

  constructor(private readonly host: UtilityHost) {
    this.register('status', (args, reply) => reply(this.status(args)));
    this.register('add', (args, reply) => this.membership('add', args, reply));
    this.register('remove', (args, reply) => this.membership('remove', args, reply));
    this.register('set_version', (args, reply) => this.setVersion(args, reply));
    this.register(TRANSFER_COMMAND, (args, reply) => this.transfer(args, reply));
  }

  /** Serve `command` with `handler` (replaces a handler registered before). */
  register(command: string, handler: UtilityHandler): void {
    this.handlers.set(command, handler);
  }

  /** Answer one command: unknown commands and handler exceptions become the reply text. */
  dispatch(command: string, args: readonly PyValue[], reply: UtilityReply): void {
    const handler = this.handlers.get(command);
    if (!handler) {
      reply(`unknown command '${command}'`);
      return;
    }
    try {
      handler(args, reply);
    } catch (e) {
      reply(String((e as Error).message ?? e));
    }
  }

  /** The status dict; with the feature probe's argument, plus the raftdcs commands served here. */
  private status(args: readonly PyValue[]): PyDict {
    const dict = this.host.statusDict();
    if (args[0] === FEATURES_ARGUMENT) {
      dict.set(
        FEATURES_KEY,
        RAFTDCS_COMMANDS.filter((c) => this.handlers.has(c)),
      );
    }
    return dict;
  }

  /** `SUCCESS TRANSFER host:port` once the target leads, else `FAIL TRANSFER host:port: <why>`. */
  private transfer(args: readonly PyValue[], reply: UtilityReply): void {
    const address = args[0];
    if (typeof address !== 'string') {
      reply(`FAIL TRANSFER ${pyStr(address ?? null)}: a node address must be a 'host:port' string`);
      return;
    }
    this.host.transferLeadership(address).then(
      () => reply(formatUtilityResult('transfer', [address], null, FailReason.Success)),
      (e: unknown) => reply(`FAIL TRANSFER ${address}: ${(e as Error).message ?? String(e)}`),
    );
  }

  private membership(cmd: 'add' | 'remove', args: readonly PyValue[], reply: UtilityReply): void {
    const address = args[0];
    if (!this.host.dynamicMembershipChange()) {
      reply('dynamicMembershipChange is disabled');
      return;
    }
    if (typeof address !== 'string') {
      reply(
        `FAIL ${cmd.toUpperCase()} ${pyStr(address ?? null)}: a node address must be a 'host:port' string`,
      );
      return;
    }
    if (cmd === 'remove' && address === this.host.selfAddress) {
      reply(formatUtilityResult('remove', args, null, FailReason.RequestDenied));
      return;
    }
    this.host.membershipChange(cmd === 'add' ? 'add' : 'rem', address).then(
      () => reply(formatUtilityResult(cmd, args, null, FailReason.Success)),
      (e: unknown) =>
        reply(
          e instanceof SyncObjError
            ? formatUtilityResult(
                cmd,
                args,
                null,
                typeof e.reason === 'number' ? e.reason : FailReason.RequestDenied,
              )
            : String((e as Error).message),
        ),
    );
  }

  private setVersion(args: readonly PyValue[], reply: UtilityReply): void {
    const v = args[0];
    if (typeof v !== 'number') {
      reply(`FAIL SET_VERSION ${pyStr(v ?? null)}: the version must be an int`);
      return;
    }
    this.host.setCodeVersion(v).then(
      () => reply(formatUtilityResult('set_version', args, null, FailReason.Success)),
      (e: unknown) =>
        reply(
          // a FAIL_REASON, or an unknown outcome, is `FAIL SET_VERSION <v>` as pysyncobj replies
          e instanceof SyncObjError && (typeof e.reason === 'number' || e.reason === 'unknown_outcome')
            ? formatUtilityResult(
                'set_version',
                args,
                null,
                typeof e.reason === 'number' ? e.reason : RuntimeFailReason.UnknownOutcome,
              )
            : String((e as Error).message),
        ),
    );
  }
}
