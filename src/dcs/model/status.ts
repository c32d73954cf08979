/**
 * `Status`: the `status` key (or, only when `status` is absent, the legacy `optime/leader` key),
 * read by Patroni 4.x rules (`docs/dcs.md` §7.8). `lastLsn` is exact at any size (`bigint`);
 * `slots` is the stored object (values as stored; `Cluster.slots` parses them) or null;
 * `retainSlots` the stored list or `[]`.
 *
 * Immutable; pure: no I/O, no network.
 */
import {
  isJsonArray,
  isJsonObject,
  type JsonArray,
  type JsonObject,
  type JsonValue,
  tryParsePyJson,
} from './json.js';
import { pyInt } from './pyint.js';

const NONE: JsonArray = Object.freeze([]);
/** A JSON document that is one integer literal (Python parses it as an int, not a float). */
const INT_LITERAL = /^[ \t\n\r]*-?(?:0|[1-9][0-9]*)[ \t\n\r]*$/;

export class Status {
  constructor(
    readonly lastLsn: bigint,
    readonly slots: JsonObject | null,
    readonly retainSlots: JsonArray,
  ) {}

  static empty(): Status {
    return new Status(0n, null, NONE);
  }

  /** last_lsn 0, no slots object, no retained slots. */
  isEmpty(): boolean {
    return this.lastLsn === 0n && this.slots === null && this.retainSlots.length === 0;
  }

  /** Parse a `status` (or legacy `optime/leader`) value; null means the key is absent. */
  static fromNode(value: string | null): Status {
    if (value === null) return Status.empty();
    const parsed = tryParsePyJson(value);
    if (parsed === undefined) return Status.empty();
    // Python: isinstance(value, int) — ints (and bools) are the legacy form
    if (typeof parsed === 'bigint') return new Status(parsed, null, NONE);
    if (typeof parsed === 'boolean') return new Status(parsed ? 1n : 0n, null, NONE);
    if (typeof parsed === 'number') {
      // a float (`12.0`, `1e3`) is not the legacy form even when its value is integral
      return INT_LITERAL.test(value) ? new Status(BigInt(parsed), null, NONE) : Status.empty();
    }
    if (!isJsonObject(parsed)) return Status.empty();

    // Python: int(value.get('optime', '')); absent, null or unconvertible → 0
    const lastLsn = pyInt(parsed['optime']) ?? 0n;

    let slots: JsonValue | undefined = parsed['slots'];
    if (typeof slots === 'string') slots = tryParsePyJson(slots);
    const slotsObj = isJsonObject(slots) ? slots : null;

    let retain: JsonValue | undefined = parsed['retain_slots'];
    if (typeof retain === 'string') retain = tryParsePyJson(retain) ?? NONE;
    const retainList = isJsonArray(retain) ? retain : NONE;

    return new Status(lastLsn, slotsObj, retainList);
  }
}
