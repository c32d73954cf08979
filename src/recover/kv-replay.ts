/**
 * Applying a KVStoreTTL node's log outside a running node, for `raftdcs recover`: the state from a
 * dump's attributes, then entry after entry exactly as a node applies them — REGULAR entries looked
 * up in the function table pysyncobj derives from KVStoreTTL's replicated methods and applied by the
 * KVStoreTTL state machine (src/kv/state-machine.ts: the same rules, indexes and timestamps), VERSION
 * entries switching the enabled code version — and back to the attributes a dump carries.
 *
 * As on a node (SyncObj.applyEntry), an entry whose REGULAR command cannot be applied is recorded
 * and skipped; a VERSION this build does not have stops everything (the node would stop too).
 * Pure: no I/O, no clock.
 */
import { KVStoreTTL } from '../kv/kvstore-ttl.js';
import { KvStateMachine } from '../kv/state-machine.js';
import { decodeMethodCall, decodeVersion } from '../raft/commands.js';
import { CommandType, type LogEntry } from '../raft/core/types.js';
import { FunctionTable } from '../raft/replicated.js';
import { composeObjectState, splitObjectState } from '../raft/snapshot/object-state.js';
import type { PyDict, PyDictKey, PyValue } from '../wire/value.js';

/** An entry that could not be applied (the node logs it and goes on). */
export interface ApplyFailure {
  readonly index: number;
  readonly term: number;
  readonly error: string;
}

/** The log switches to a code version this build does not have. */
export class UnsupportedCodeVersionError extends Error {
  override readonly name = 'UnsupportedCodeVersionError';
}

type Apply = (sm: KvStateMachine, args: readonly PyValue[], kwargs: PyDict, index: number) => void;

/** KVStoreTTL's replicated methods by their pysyncobj alias (`<name>_v<ver>`). */
export const KV_METHODS: ReadonlyMap<string, Apply> = new Map<string, Apply>([
  ['_set_v0', (sm, args, kwargs, index) => void sm.applySet(args, kwargs, index)],
  ['_delete_v0', (sm, args, kwargs) => void sm.applyDelete(args, kwargs)],
  ['_expire_v0', (sm, args) => sm.applyExpire(args)],
]);

/** The function table a KVStoreTTL node numbers its replicated methods by (no consumers). */
export function kvFunctionTable(): FunctionTable {
  // the table only looks at the prototype chain: an object of KVStoreTTL's prototype is enough
  const shape: object = Object.create(KVStoreTTL.prototype);
  return new FunctionTable(shape, []);
}

export class KvReplay {
  readonly sm = new KvStateMachine();
  private enabled = 0;
  private readonly table = kvFunctionTable();
  private readonly failed: ApplyFailure[] = [];

  get enabledCodeVersion(): number {
    return this.enabled;
  }

  get failures(): readonly ApplyFailure[] {
    return this.failed;
  }

  /** Replace the state with a dump's (SyncObj.restoreState + KVStoreTTL.restoreAttributes). */
  restore(data: PyValue): void {
    const { own } = splitObjectState(data, 0);
    const v = own?.get('_SyncObj__enabledCodeVersion');
    this.enabled = typeof v === 'number' ? v : 0;
    this.sm.restore(own?.get('_KVStoreTTL__data'));
  }

  /** Apply one committed entry. */
  apply(e: LogEntry): void {
    const type = e.command[0];
    if (type === CommandType.Version) {
      let version: number;
      try {
        version = decodeVersion(e.command);
      } catch (err) {
        this.failed.push({ index: e.index, term: e.term, error: (err as Error).message });
        return;
      }
      if (version > this.table.selfCodeVersion) {
        throw new UnsupportedCodeVersionError(
          `entry ${e.index} switches the cluster to code version ${version}, but this build only has ` +
            `version ${this.table.selfCodeVersion}: run recover from a raftdcs that has it`,
        );
      }
      this.enabled = version;
      return;
    }
    if (type !== CommandType.Regular) return;
    try {
      const call = decodeMethodCall(e.command);
      const target = this.table.lookup(call.funcId);
      const method = target === undefined ? undefined : KV_METHODS.get(target.alias);
      if (method === undefined) throw new Error(`no replicated method with function id ${call.funcId}`);
      method(this.sm, call.args, call.kwargs ?? new Map(), e.index);
    } catch (err) {
      this.failed.push({ index: e.index, term: e.term, error: (err as Error).message });
    }
  }

  /** The attributes a dump of this state carries (KVStoreTTL.serializeAttributes). */
  attributes(): PyValue {
    const own = new Map<PyDictKey, PyValue>([['_SyncObj__enabledCodeVersion', this.enabled]]);
    own.set('_KVStoreTTL__data', this.sm.snapshot());
    return composeObjectState(own, []);
  }
}
