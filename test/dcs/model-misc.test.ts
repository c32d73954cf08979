/**
 * `scheduled_at` date-times (against dateutil), the legacy connection-URL member format (against
 * Patroni's `parse_connection_string`), and small path helpers.
 */
import { describe, expect, it } from 'vitest';
import { PyDateTime, parseConnectionString, parseScheduledAt, pyUnquote } from '../../src/dcs/model/index.js';
import { basePath, clientPath, clusterPath, memberKey } from '../../src/dcs/paths.js';
import { describePython, runPython } from '../helpers/python.js';

/** Inputs both dateutil and we read; the expected value is Python's `isoformat()`. */
const DATES_BOTH: string[] = [
  '2024-05-01T12:00:00+00:00',
  '2024-05-01T12:00:00Z',
  '2024-05-01t12:00:00z',
  '2024-05-01 12:00',
  '2024-05-01  12:00',
  '2024-05-01T12:00:00.1234567+02:00',
  '2024-05-01T12:00:00.5-03:30',
  '2024-05-01T12:00:00,5+00:00',
  '2024-05-01T12:00:00.+00:00',
  '2024-05-01T12',
  '2024-05-01',
  '20240501T120000Z',
  '2024-05-01T1200',
  '2024-05-01T12:00:00+0530',
  '2024-05-01T12:00:00-05',
  '2024-05-01T12:00:00-00:00',
  '2024-05-01T12:00:00 +00:00',
  '2024-5-1 7:05',
  '2024-05-01T12:00:00 UTC',
  '2024-05-01T12:00:00 GMT',
  '2024-05-01T12:00:00 EST',
  '  2024-05-01T12:00:00+00:00  ',
  '2024-05-01T12:00:00+23:59',
  '2024-02-29T00:00:00',
  '0001-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999999+00:00',
];
/** Inputs neither reads. */
const DATES_NEITHER: string[] = [
  'next tuesday-ish',
  '2024-05-01T24:00:00',
  '2024-02-30T00:00',
  '2023-02-29',
  '2024-05-01T12:00:60',
  '2024-05-01T12:60',
  '2024-13-01',
  '2024-05-01T12:00:00+24:00',
  '',
];
/** Inputs dateutil reads but we refuse (failing the load): not shapes Patroni or patronictl write. */
const DATES_STRICTER: string[] = ['May 1 2024', '12:00', '1200', '2024-05-01T12:00:00 UTC+3'];

describe('scheduled_at date-times', () => {
  it('aware values are instants; naive ones have none', () => {
    const a = parseScheduledAt('2024-05-01T14:00:00.250000+02:00') as PyDateTime;
    expect(a.isNaive).toBe(false);
    expect(a.utcOffsetSeconds).toBe(7200);
    expect(a.toDate()?.toISOString()).toBe('2024-05-01T12:00:00.250Z');
    expect(a.epochSeconds).toBe(Date.UTC(2024, 4, 1, 12) / 1000 + 0.25);
    expect(a.isoformat()).toBe('2024-05-01T14:00:00.250000+02:00');
    const n = parseScheduledAt('2024-05-01 12:00') as PyDateTime;
    expect(n.isNaive).toBe(true);
    expect(n.epochSeconds).toBeNull();
    expect(n.isoformat()).toBe('2024-05-01T12:00:00');
    expect(parseScheduledAt('2024-05-01T12:00:00 EST')?.isNaive).toBe(true);
    for (const s of [...DATES_NEITHER, ...DATES_STRICTER]) expect(parseScheduledAt(s), s).toBeNull();
  });

  it('fromEpochSeconds / isoformat write what Patroni writes', () => {
    expect(PyDateTime.fromEpochSeconds(Date.UTC(2024, 4, 1, 12) / 1000).isoformat()).toBe(
      '2024-05-01T12:00:00+00:00',
    );
    expect(PyDateTime.fromEpochSeconds(Date.UTC(2024, 4, 1, 12) / 1000 + 0.5, -3600).isoformat()).toBe(
      '2024-05-01T11:00:00.500000-01:00',
    );
  });
});

describe('legacy connection URL members (unit)', () => {
  it('drops the query, keeps the fragment, decodes application_name', () => {
    expect(
      parseConnectionString('postgres://u:p@h:5432/postgres?application_name=http://h:8008/patroni'),
    ).toEqual({
      connUrl: 'postgres://u:p@h:5432/postgres',
      apiUrl: 'http://h:8008/patroni',
    });
    expect(parseConnectionString('postgres://h/db?x=1&application_name=http%3A%2F%2Fa%20b#frag')).toEqual({
      connUrl: 'postgres://h/db#frag',
      apiUrl: 'http://a b',
    });
    expect(parseConnectionString('postgres://h/db')).toEqual({ connUrl: 'postgres://h/db', apiUrl: null });
    expect(pyUnquote('%C3%A9%zz%C3')).toBe('é%zz\ufffd');
  });
});

describe('path helpers (unit)', () => {
  it('compose base path, cluster path, keys', () => {
    expect(basePath('batman')).toBe('/service/batman');
    expect(basePath('batman', '')).toBe('/batman');
    expect(basePath('/batman/', '/ns//')).toBe('/ns/batman/');
    expect(clusterPath('/service/batman')).toBe('/service/batman/');
    expect(clusterPath('/service/batman', 3)).toBe('/service/batman/3/');
    expect(clientPath('/service/batman/', '/leader')).toBe('/service/batman/leader');
    expect(memberKey('pg1')).toBe('members/pg1');
  });
});

describePython('date-times and connection URLs against the real Python', () => {
  it('parseScheduledAt agrees with dateutil.parser.parse', () => {
    const all = [...DATES_BOTH, ...DATES_NEITHER, ...DATES_STRICTER];
    const py = JSON.parse(
      runPython(
        `import json,sys,warnings
warnings.simplefilter('ignore')
import dateutil.parser
res=[]
for s in json.loads(sys.stdin.read()):
    try: res.append(dateutil.parser.parse(s).isoformat())
    except Exception: res.append(None)
print(json.dumps(res))`,
        JSON.stringify(all),
      ),
    ) as (string | null)[];
    all.forEach((s, i) => {
      const ours = parseScheduledAt(s)?.isoformat() ?? null;
      if (DATES_STRICTER.includes(s)) {
        expect(py[i], s).not.toBeNull();
        expect(ours, s).toBeNull();
      } else {
        expect(ours, s).toBe(py[i]);
      }
    });
  });

  it("parseConnectionString agrees with Patroni's parse_connection_string", () => {
    const urls = [
      'postgres://u:p@10.0.0.3:5432/postgres?application_name=http://10.0.0.3:8008/patroni',
      'postgresql://h:5432/db?sslmode=require&application_name=http%3A%2F%2Fh%3A8008%2Fpatroni',
      'postgres://h/db?application_name=a+b&application_name=second',
      'postgres://h/db?application_name=&application_name=x',
      'postgres://h/db?application_name',
      'postgres://h/db#frag?x',
      'postgres://h/db?q=1#frag',
      'postgres://h/db#',
      'postgres:///db?application_name=x',
      'postgres:relative?application_name=x',
      'postgresQL://H:1/Db?application_name=%C3%A9%E2%82%AC%FF',
      'postgres://h\t/d\nb?application_name=a\rb',
      'postgres_x://h/db?application_name=x',
      'postgres',
      'postgres://h?application_name=x',
      'postgres://h;p/db;params?application_name=x',
    ];
    const py = JSON.parse(
      runPython(
        `import json,sys
from patroni.dcs import parse_connection_string
print(json.dumps([list(parse_connection_string(u)) for u in json.loads(sys.stdin.read())]))`,
        JSON.stringify(urls),
      ),
    ) as [string, string | null][];
    urls.forEach((u, i) => {
      const r = parseConnectionString(u);
      expect([r.connUrl, r.apiUrl], JSON.stringify(u)).toEqual(py[i]);
    });
  });
});
