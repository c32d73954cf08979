/**
 * patronictl's scheduling helpers, shared by `switchover` and `restart`:
 *
 * - `parseScheduled`: `--scheduled` / the prompt's answer: `now` (or nothing) is null, else an
 *   ISO 8601 date-time, read as local time when it has no offset; anything else is `Unable to
 *   parse scheduled timestamp (…). It should be in an unambiguous format (e.g. ISO 8601)`;
 * - `nextHour`: the example in the `When should the … take place (e.g. …)` prompts, now + 1 h as
 *   `%Y-%m-%dT%H:%M` in local time.
 *
 * Pure apart from reading the clock and the local time zone.
 */
import { PyDateTime, parseScheduledAt } from '../../dcs/model/datetime.js';
import { CtlError } from './config.js';

/** patronictl's `parse_scheduled`: null for now, else an aware date-time (local time when naive). */
export function parseScheduled(text: string | null | undefined): PyDateTime | null {
  if ((text || 'now') === 'now') return null;
  const dt = parseScheduledAt(text as string);
  if (dt === null) {
    throw new CtlError(
      `Unable to parse scheduled timestamp (${text}). It should be in an unambiguous format (e.g. ISO 8601)`,
    );
  }
  if (!dt.isNaive) return dt;
  const local = new Date(dt.year, dt.month - 1, dt.day, dt.hour, dt.minute, dt.second);
  return new PyDateTime(
    dt.year,
    dt.month,
    dt.day,
    dt.hour,
    dt.minute,
    dt.second,
    dt.microsecond,
    -local.getTimezoneOffset() * 60,
  );
}

/** `(now + 1 hour).strftime('%Y-%m-%dT%H:%M')`, patronictl's example in the schedule prompts. */
export function nextHour(): string {
  const d = new Date(Date.now() + 3600_000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
