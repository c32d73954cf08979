/**
 * Date-times as Patroni stores them in `failover.scheduled_at`, with Python's naive/aware
 * distinction kept visible: a value without an offset is *naive* (`utcOffsetSeconds === null`,
 * no instant); Patroni's HA loop cannot compare it with "now" and clears the failover key.
 *
 * `parseScheduledAt` reads the ISO-8601 shapes Patroni and people write, a subset of what
 * `dateutil.parser.parse` accepts: `2024-05-01T12:00:00+00:00`, `…Z`, `…+0530`, `…-05`, fractions
 * with `.` or `,` (truncated to microseconds), `2024-05-01 12:00`, `2024-5-1 7:05`, hour only
 * (`2024-05-01T12`), date only (midnight), basic forms (`20240501T120000Z`, `T1200`), a trailing
 * zone name (`UTC`/`GMT`/`Z` → UTC; another upper-case name of ≤ 5 letters → naive, as dateutil
 * does for names it does not know). Everything else (month names, times without a date, …) is
 * reported as unparseable; the caller decides what that means.
 *
 * Pure: no I/O, no clock, no network.
 */

export class PyDateTime {
  constructor(
    readonly year: number,
    readonly month: number,
    readonly day: number,
    readonly hour: number,
    readonly minute: number,
    readonly second: number,
    readonly microsecond: number,
    /** offset from UTC in seconds; null for a naive date-time */
    readonly utcOffsetSeconds: number | null,
  ) {}

  get isNaive(): boolean {
    return this.utcOffsetSeconds === null;
  }

  /** Seconds since the Unix epoch (like Python's `timestamp()` for aware values); null when naive. */
  get epochSeconds(): number | null {
    if (this.utcOffsetSeconds === null) return null;
    return this.localEpochMs() / 1000 + this.microsecond / 1e6 - this.utcOffsetSeconds;
  }

  /** The instant as a Date (millisecond precision); null when naive. */
  toDate(): Date | null {
    if (this.utcOffsetSeconds === null) return null;
    return new Date(this.localEpochMs() + Math.floor(this.microsecond / 1000) - this.utcOffsetSeconds * 1000);
  }

  /** Python's `datetime.isoformat()`: `YYYY-MM-DDTHH:MM:SS[.ffffff][±HH:MM[:SS]]`. */
  isoformat(): string {
    const p = (n: number, w = 2) => String(n).padStart(w, '0');
    let s = `${p(this.year, 4)}-${p(this.month)}-${p(this.day)}T${p(this.hour)}:${p(this.minute)}:${p(this.second)}`;
    if (this.microsecond) s += `.${p(this.microsecond, 6)}`;
    if (this.utcOffsetSeconds !== null) {
      const o = this.utcOffsetSeconds;
      const a = Math.abs(o);
      s += `${o < 0 ? '-' : '+'}${p(Math.floor(a / 3600))}:${p(Math.floor((a % 3600) / 60))}`;
      if (a % 60) s += `:${p(a % 60)}`;
    }
    return s;
  }

  /** An aware date-time for an instant, shown at the given UTC offset (default UTC). */
  static fromEpochSeconds(seconds: number, utcOffsetSeconds = 0): PyDateTime {
    const totalMicros = Math.round(seconds * 1e6) + utcOffsetSeconds * 1e6;
    const ms = Math.floor(totalMicros / 1000);
    const d = new Date(ms);
    const micro = totalMicros - Math.floor(totalMicros / 1e6) * 1e6;
    return new PyDateTime(
      d.getUTCFullYear(),
      d.getUTCMonth() + 1,
      d.getUTCDate(),
      d.getUTCHours(),
      d.getUTCMinutes(),
      d.getUTCSeconds(),
      micro,
      utcOffsetSeconds,
    );
  }

  private localEpochMs(): number {
    const d = new Date(0);
    d.setUTCFullYear(this.year, this.month - 1, this.day);
    d.setUTCHours(this.hour, this.minute, this.second, 0);
    return d.getTime();
  }
}

const DATE_EXT = /^(\d{4})-(\d{1,2})-(\d{1,2})/;
const DATE_BASIC = /^(\d{4})(\d{2})(\d{2})(?=$|[Tt\s])/;
const TIME_EXT = /^(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:[.,](\d*))?)?)?/;
const TIME_BASIC = /^(\d{2})(\d{2})(?:(\d{2})(?:[.,](\d*))?)?/;
const OFFSET = /^([+-])(\d{2})(?::?(\d{2}))?$/;
const ZONE_NAME = /^[A-Z]{1,5}$/;
const UTC_NAMES = new Set(['UTC', 'GMT', 'Z', 'z']);

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(m) ? 30 : 31;
}

/** Parse a `scheduled_at` text; null when it is not a date-time we understand. */
export function parseScheduledAt(text: string): PyDateTime | null {
  let s = text.trim();
  const dm = DATE_EXT.exec(s) ?? DATE_BASIC.exec(s);
  if (!dm) return null;
  const year = Number(dm[1]);
  const month = Number(dm[2]);
  const day = Number(dm[3]);
  s = s.slice(dm[0].length);
  let hour = 0;
  let minute = 0;
  let second = 0;
  let micro = 0;
  let offset: number | null = null;
  let hasTime = false;
  if (s !== '') {
    const sep = /^(?:[Tt]|\s+)/.exec(s);
    if (!sep) return null;
    s = s.slice(sep[0].length);
    const basic = /^\d{4}(?!\d)/.test(s) || /^\d{6}/.test(s);
    const tm = (basic ? TIME_BASIC : TIME_EXT).exec(s);
    if (!tm) return null;
    hasTime = true;
    hour = Number(tm[1]);
    minute = Number(tm[2] ?? 0);
    second = Number(tm[3] ?? 0);
    micro = tm[4] ? Number(tm[4].padEnd(6, '0').slice(0, 6)) : 0;
    s = s.slice(tm[0].length).trim();
  }
  if (s !== '') {
    if (!hasTime) return null;
    const om = OFFSET.exec(s);
    if (om) {
      const oh = Number(om[2]);
      const omin = Number(om[3] ?? 0);
      if (oh > 23 || omin > 59) return null;
      offset = (om[1] === '-' ? -1 : 1) * (oh * 3600 + omin * 60);
    } else if (UTC_NAMES.has(s)) {
      offset = 0;
    } else if (!ZONE_NAME.test(s)) {
      return null;
    }
  }
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (year < 1 || hour > 23 || minute > 59 || second > 59) return null;
  return new PyDateTime(year, month, day, hour, minute, second, micro, offset);
}
