/**
 * `TimelineHistory`: the `history` key, a JSON array of `[timeline, lsn, reason[, timestamp,
 * new_leader]]` lines (`docs/dcs.md` §7.7). `lines` is the parsed array, or `[]` when the value
 * is not a JSON array; `value` keeps the raw text (`Cluster.timeline` distinguishes `[]` from
 * other text). LSNs beyond 2^53 stay exact (`bigint`).
 *
 * Immutable; pure: no I/O, no network.
 */
import { isJsonArray, type JsonArray, type JsonValue, tryParsePyJson } from './json.js';
import { pyInt } from './pyint.js';

const NO_LINES: JsonArray = Object.freeze([]);

export class TimelineHistory {
  constructor(
    /** KV index of the `history` key */
    readonly version: number,
    /** the raw value text */
    readonly value: string,
    /** the parsed lines (each normally an array), or `[]` */
    readonly lines: JsonArray,
  ) {}

  static fromNode(version: number, value: string): TimelineHistory {
    const parsed = tryParsePyJson(value);
    return new TimelineHistory(version, value, isJsonArray(parsed) ? parsed : NO_LINES);
  }

  /**
   * Patroni's `Cluster.timeline` for this history: `int(lines[-1][0]) + 1` with Python semantics
   * (`[0]` of a string is its first character), 1 when there are no lines and the text is exactly
   * `[]`, else 0. `error` says why a non-empty history gave 0 (Patroni logs it).
   */
  timeline(): { timeline: number; error: string | null } {
    const last = this.lines[this.lines.length - 1];
    if (last === undefined) return { timeline: this.value === '[]' ? 1 : 0, error: null };
    let first: JsonValue | undefined;
    if (isJsonArray(last)) first = last[0];
    else if (typeof last === 'string')
      first = last.length > 0 ? String.fromCodePoint(last.codePointAt(0) as number) : undefined;
    const n = first === undefined ? null : pyInt(first);
    if (n === null) return { timeline: 0, error: `Failed to parse cluster history from DCS: ${this.value}` };
    return { timeline: Number(n + 1n), error: null };
  }
}
