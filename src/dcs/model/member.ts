/**
 * `Member` (one `members/<name>` key) and `Leader` (the `leader` key resolved to a member), as
 * Patroni 4.x reads them (`docs/dcs.md` §7.2, §7.3).
 *
 * Immutable value objects built from KV values; pure: no I/O, no network.
 */
import { parseConnectionString } from './conn-string.js';
import { textField } from './fields.js';
import { isJsonObject, type JsonObject, type JsonValue, tryParsePyJson } from './json.js';
import { patroniParseInt, pyIntFromString } from './pyint.js';

const EMPTY: JsonObject = Object.freeze(Object.create(null) as JsonObject);

/** `master` (what Patroni 3.x writes) and `primary` (4.x) are the same role. */
export function normalizeRole(role: string | null): string | null {
  return role === 'master' ? 'primary' : role;
}

/** Python tuple ordering of two version tuples (a shorter prefix sorts first). */
export function compareVersionTuples(a: readonly number[], b: readonly number[]): number {
  for (const [i, x] of a.entries()) {
    const y = b[i];
    if (y === undefined) break;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/** The `version` string split on `.` into Python `int()`s; null if absent, empty or any part fails. */
export function parsePatroniVersion(version: JsonValue | undefined): readonly number[] | null {
  if (typeof version !== 'string' || version === '') return null;
  const parts: number[] = [];
  for (const p of version.split('.')) {
    const v = pyIntFromString(p);
    if (v === null) return null;
    parts.push(Number(v));
  }
  return Object.freeze(parts);
}

export class Member {
  /** Session: always null for the Raft DCS (TTLs live in the KV records). */
  readonly session = null;

  constructor(
    /** KV index of the member key (−1 for a synthetic leader member) */
    readonly version: number,
    readonly name: string,
    /** the member's data: the parsed JSON object, or `{}` */
    readonly data: JsonObject,
  ) {}

  /**
   * Parse a member value: a legacy connection URL when it starts with `postgres`, else JSON; any
   * JSON that is not an object (or not JSON at all) gives `{}`. Never fails.
   */
  static fromNode(version: number, name: string, value: string): Member {
    if (value.startsWith('postgres')) {
      const { connUrl, apiUrl } = parseConnectionString(value);
      const data = Object.create(null) as Record<string, JsonValue>;
      data['conn_url'] = connUrl;
      data['api_url'] = apiUrl;
      return new Member(version, name, Object.freeze(data));
    }
    const parsed = tryParsePyJson(value);
    return new Member(version, name, isJsonObject(parsed) ? parsed : EMPTY);
  }

  /** The stand-in Patroni uses when the leader key names no existing member. */
  static synthetic(name: string): Member {
    return new Member(-1, name, EMPTY);
  }

  /** `conn_url`, else one built from `conn_kwargs` (`postgresql://host:port`), else null. */
  get connUrl(): string | null {
    const url = textField(this.data['conn_url']);
    if (url) return url;
    const kw = this.data['conn_kwargs'];
    if (isJsonObject(kw) && Object.keys(kw).length > 0) {
      let host = textField(kw['host']) ?? '';
      if (host.includes(':') && !host.startsWith('[') && !host.endsWith(']')) host = `[${host}]`;
      const port = kw['port'] === undefined ? 5432 : kw['port'];
      const portText = textField(port);
      return `postgresql://${host}${portText ? `:${portText}` : ''}`;
    }
    return null;
  }

  get apiUrl(): string | null {
    return textField(this.data['api_url']);
  }

  /** `state`, `"unknown"` when absent (or null / not text). */
  get state(): string {
    return textField(this.data['state']) ?? 'unknown';
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /** `role` as written (`master` from 3.x, `primary` from 4.x, `replica`, …) or null. */
  get role(): string | null {
    return textField(this.data['role']);
  }

  /** The role with `master` read as `primary`. */
  get normalizedRole(): string | null {
    return normalizeRole(this.role);
  }

  /** `tags` when it is an object, else `{}`. */
  get tags(): JsonObject {
    const t = this.data['tags'];
    return isJsonObject(t) ? t : EMPTY;
  }

  /** The Patroni version as a tuple, e.g. `[4, 0, 4]`; null when absent or not all-integer. */
  get patroniVersion(): readonly number[] | null {
    return parsePatroniVersion(this.data['version']);
  }

  /** `xlog_location` through Patroni's `parse_int`. */
  get lsn(): bigint | null {
    return patroniParseInt(this.data['xlog_location']);
  }

  get receiveLsn(): bigint | null {
    return patroniParseInt(this.data['receive_lsn']);
  }

  get replayLsn(): bigint | null {
    return patroniParseInt(this.data['replay_lsn']);
  }
}

export class Leader {
  readonly session = null;

  constructor(
    /** KV index of the `leader` key */
    readonly version: number,
    /** the first member with the leader's name, or a synthetic member (version −1) */
    readonly member: Member,
  ) {}

  get name(): string {
    return this.member.name;
  }

  get data(): JsonObject {
    return this.member.data;
  }

  get connUrl(): string | null {
    return this.member.connUrl;
  }

  get apiUrl(): string | null {
    return this.member.apiUrl;
  }

  /** The leader member's `timeline` field as stored (not parsed). */
  get timeline(): JsonValue | null {
    return this.member.data['timeline'] ?? null;
  }

  /**
   * Patroni's `checkpoint_after_promote`: for members newer than 1.5.6, whether the role is
   * primary/master and the member did not report `checkpoint_after_promote`; else null.
   */
  get checkpointAfterPromote(): boolean | null {
    const v = this.member.patroniVersion;
    if (v && compareVersionTuples(v, [1, 5, 6]) > 0) {
      return (
        this.member.normalizedRole === 'primary' && !Object.hasOwn(this.data, 'checkpoint_after_promote')
      );
    }
    return null;
  }
}
