/**
 * `raftdcs ctl`'s formatting against the real thing, in-process on our side and one Python run per
 * suite on the other (Debian's PyYAML 6, prettytable 3.6, patroni 3.0.2's ctl module, difflib):
 *
 * - YAML: `yaml.safe_dump(v, default_flow_style=…, allow_unicode=True, width=200)` byte for byte,
 *   over a corpus of scalars that need (or must not get) quotes, folding, nesting;
 * - tables: patronictl's `print_output` (pretty / tsv / json / yaml, with and without a title);
 * - member lists: patronictl's `output_members` on clusters built by Patroni's own Raft loader
 *   (`Raft._cluster_from_nodes`) from the same KV records as ours (`buildCluster`) — roles, hosts
 *   and ports, lag, pending restart, tags, topology, service lines; the title is compared with
 *   the system id removed (3.0.2 lost it; ours prints it like 3.0.3+);
 * - diffs: `difflib.unified_diff` on random line sequences.
 */
import { describe, expect, it } from 'vitest';
import { unifiedDiff } from '../../src/cli/ctl/difflib.js';
import { formatMembers } from '../../src/cli/ctl/members.js';
import { type OutputFormat, printOutput } from '../../src/cli/ctl/output.js';
import { pyYamlDump, pyYamlLoad } from '../../src/cli/ctl/pyyaml.js';
import { buildCluster } from '../../src/dcs/model/cluster-loader.js';
import { type ExactJsonValue, type PyJson, parsePyJson } from '../../src/dcs/model/json.js';
import { describePython, runPython } from '../helpers/python.js';

const SEP = '\u0001---\u0001\n';

function exact(text: string): PyJson {
  return parsePyJson(text, { exact: true }) as ExactJsonValue as PyJson;
}

/** A tiny deterministic generator (tests replay exactly). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const YAML_STRINGS = [
  '',
  'plain',
  'two words',
  'true',
  'True',
  'yes',
  'off',
  'y',
  'n',
  '~',
  'null',
  'NULL',
  '123',
  '-5',
  '+7',
  '0777',
  '08',
  '0x1F',
  '0b101',
  '1_000',
  '10:20',
  '1.5',
  '.5',
  '1e3',
  '1.0e+3',
  '.inf',
  '-.Inf',
  '.nan',
  '2024-01-01',
  '2024-01-01 10:00:00',
  '2024-1-1T1:00:00Z',
  '<<',
  '=',
  '!',
  '&a',
  '*b',
  '---',
  '---x',
  '...',
  '- x',
  '-x',
  '? x',
  '?x',
  ': x',
  ':x',
  'a: b',
  'a:b',
  'a #b',
  'a#b',
  '#x',
  '%x',
  '@x',
  '`x',
  "'quoted'",
  '"dq"',
  "it's",
  ' lead',
  'trail ',
  'multi\nline',
  'trailing newline\n',
  '\nleading newline',
  'a \nb',
  'a\n b',
  'tab\there',
  'bell\x07',
  'nbsp\u00a0x',
  'ünïcödé',
  '日本語',
  'emoji 😀',
  'bom\ufeff',
  'line\u2028sep',
  'cp %p /arch/%f',
  'host all all 0.0.0.0/0 md5',
  'x'.repeat(250),
  `${'word '.repeat(60)}end`,
  `'${'q '.repeat(120)}'`,
  `tab\t${'w '.repeat(120)}`,
  '[a]',
  '{a}',
  'a,b',
  'a[b]',
  'comma, space',
];

const YAML_DOCS = [
  '{}',
  '[]',
  '{"a":{},"b":[],"c":[[]],"d":[{}]}',
  '{"ttl":30,"loop_wait":10,"postgresql":{"use_pg_rewind":true,"parameters":{"max_connections":100,"wal_level":"replica"}},"synchronous_mode":false}',
  '{"floats":[1.0,0.1,-0.0,1e17,1.5e-7,123456789.123,1e16,NaN,Infinity,-Infinity],"ints":[0,-1,18446744073709551615],"b":[true,false,null]}',
  '{"pg_hba":["host all all 0.0.0.0/0 md5","local all all trust"],"slots":{"s1":{"type":"logical","database":"db","plugin":"pgoutput"}}}',
  '[{"Cluster":"batman","Member":"pg1","Pending restart":"*","Tags":{"nofailover":false,"clonefrom":true}},{"Cluster":"batman","TL":3}]',
  '{"":1,"b":{"":""}}',
  `{"${'k'.repeat(130)}":1,"short":{"${'n'.repeat(140)}":[1,2]}}`,
  '{"z":1,"a":2,"B":3,"_":4,"é":5,"10":6,"9":7}',
  '[[1,[2,[3]]],{"a":[{"b":[]}]}]',
  '"root string"',
  '""',
  '42',
  'null',
  `{"long":[${Array.from({ length: 60 }, (_, i) => `"item${i}"`).join(',')}]}`,
];

describePython(
  'ctl formatting against Debian Python (PyYAML, prettytable, patronictl 3.0.2, difflib)',
  () => {
    it('YAML: safe_dump(block and flow, allow_unicode, width=200) byte for byte', () => {
      const docs = [
        ...YAML_DOCS,
        ...YAML_STRINGS.map((s) => JSON.stringify({ value: s, list: [s], [s]: s })),
      ];
      const py = runPython(
        `
import json, sys, yaml
for line in sys.stdin.read().split('\\n'):
    if not line: continue
    v = json.loads(line)
    for flow in (False, True):
        sys.stdout.write(yaml.safe_dump(v, default_flow_style=flow, encoding=None, allow_unicode=True, width=200))
        sys.stdout.write(${JSON.stringify(SEP)})
`,
        `${docs.join('\n')}\n`,
      );
      const expected = py.split(SEP);
      let k = 0;
      for (const doc of docs) {
        for (const flow of [false, true]) {
          expect(pyYamlDump(exact(doc), { flow }), `${doc} flow=${flow}`).toBe(expected[k]);
          k++;
        }
      }
    });

    it('YAML: what safe_load reads back from our dumps is the same value', () => {
      // (U+2028 is a line break for PyYAML only; the yaml package reads it as text)
      for (const s of YAML_STRINGS.filter((x) => !x.includes('\u2028'))) {
        const v = new Map<string, PyJson>([['v', s]]);
        const back = pyYamlLoad(pyYamlDump(v)) as Map<string, PyJson>;
        expect(back.get('v'), JSON.stringify(s)).toBe(s);
      }
    });

    it("tables: patronictl's print_output (pretty, tsv, json, yaml; titles; multi-line and wide cells)", () => {
      const rand = rng(7);
      const words = [
        'pg1',
        'a',
        'Leader',
        '10.0.0.1:5432',
        '日本',
        'x\ny',
        '',
        'running',
        'long value here',
        '*',
      ];
      const cases: {
        columns: string[];
        rows: PyJson[][];
        align: Record<string, 'l' | 'r'>;
        header: string | null;
      }[] = [];
      for (let c = 0; c < 40; c++) {
        const ncol = 1 + Math.floor(rand() * 5);
        const columns = Array.from(
          { length: ncol },
          (_, i) => ['Member', 'Host', 'TL', 'Lag in MB', 'State'][i] as string,
        );
        const rows: PyJson[][] = Array.from({ length: Math.floor(rand() * 4) }, () =>
          columns.map(() => {
            const r = rand();
            if (r < 0.2) return Math.floor(rand() * 1000);
            return words[Math.floor(rand() * words.length)] as string;
          }),
        );
        const header =
          rand() < 0.5
            ? null
            : rand() < 0.8
              ? ' Cluster: batman '
              : ` Cluster: ${'very-long-name-'.repeat(6)} `;
        cases.push({ columns, rows, align: { TL: 'r', 'Lag in MB': 'r' }, header });
      }
      const fmts: OutputFormat[] = ['pretty', 'tsv', 'json', 'yaml'];
      const py = runPython(
        `
import json, sys
import patroni.ctl as ctl
for line in sys.stdin.read().split('\\n'):
    if not line: continue
    c = json.loads(line)
    for fmt in ${JSON.stringify(fmts)}:
        ctl.print_output(c['columns'], [list(r) for r in c['rows']], c['align'], fmt, c['header'])
        sys.stdout.write(${JSON.stringify(SEP)})
`,
        `${cases.map((c) => JSON.stringify(c)).join('\n')}\n`,
      );
      const expected = py.split(SEP);
      let k = 0;
      for (const c of cases) {
        for (const fmt of fmts) {
          expect(printOutput(c.columns, c.rows, c.align, fmt, c.header), `${JSON.stringify(c)} ${fmt}`).toBe(
            expected[k],
          );
          k++;
        }
      }
    });

    it("member lists: patronictl's output_members on Patroni-built clusters from the same KV records", () => {
      type Nodes = Record<string, { value: string; index: number }>;
      const member = (data: Record<string, unknown>) => JSON.stringify(data);
      const base: Nodes = {
        initialize: { value: '7234567890123456789', index: 3 },
        config: { value: '{"ttl":30,"loop_wait":10}', index: 4 },
        leader: { value: 'pg1', index: 9 },
        status: { value: '{"optime":119537760,"slots":{"pg2":1}}', index: 10 },
        'members/pg1': {
          value: member({
            conn_url: 'postgres://10.0.0.1:5432/postgres',
            api_url: 'http://10.0.0.1:8008/patroni',
            state: 'running',
            role: 'master',
            version: '3.0.2',
            xlog_location: 119537760,
            timeline: 3,
          }),
          index: 5,
        },
        'members/pg2': {
          value: member({
            conn_url: 'postgres://10.0.0.2:5432/postgres',
            api_url: 'http://10.0.0.2:8008/patroni',
            state: 'streaming',
            role: 'replica',
            xlog_location: 67108960,
            timeline: 3,
            pending_restart: true,
            tags: { nofailover: false, clonefrom: true },
          }),
          index: 6,
        },
        'members/pg3': {
          value: member({
            conn_url: 'postgres://10.0.0.3:5433/postgres',
            api_url: 'http://10.0.0.3:8008/patroni',
            state: 'running',
            role: 'replica',
            xlog_location: 60000000,
            timeline: 3,
            tags: { replicatefrom: 'pg2' },
          }),
          index: 7,
        },
        sync: { value: '{"leader":"pg1","sync_standby":"pg2"}', index: 11 },
      };
      const clusters: { name: string; nodes: Nodes }[] = [
        { name: 'batman', nodes: base },
        { name: 'empty', nodes: {} },
        { name: 'init', nodes: { initialize: { value: '', index: 3 } } },
        {
          name: 'standby',
          nodes: {
            ...base,
            config: { value: '{"standby_cluster":{"host":"10.1.1.1"},"pause":true}', index: 4 },
            failover: {
              value: '{"leader":"pg1","member":"pg3","scheduled_at":"2030-01-01T12:00:00+00:00"}',
              index: 12,
            },
            sync: { value: '{"leader":"pg1","sync_standby":null}', index: 11 },
          },
        },
        {
          name: 'odd',
          nodes: {
            leader: { value: 'ghost', index: 9 },
            'members/a': { value: member({ conn_url: 'postgres://Host-A/db', state: 'stopped' }), index: 3 },
            'members/b': {
              value: member({ conn_url: 'postgres://host-a/db', xlog_location: null, tags: {} }),
              index: 4,
            },
            'members/c': {
              value: 'postgres://10.0.0.9:6432/postgres?application_name=http://10.0.0.9:8008/patroni',
              index: 5,
            },
            'members/d': {
              value: member({ conn_kwargs: { host: '::1', port: 5434 }, timeline: null }),
              index: 6,
            },
            'members/e': { value: 'not json', index: 7 },
            'members/f': {
              value: member({
                conn_url: 'postgres://[::2]:5432/x',
                scheduled_restart: { schedule: '2030-01-01T00:00:00+00:00', postgres_version: '15.1' },
                tags: { replicatefrom: 'f' },
              }),
              index: 8,
            },
            status: { value: '{"optime":"12345"}', index: 10 },
          },
        },
        {
          name: 'cascade',
          nodes: {
            ...base,
            'members/pg4': {
              value: member({
                conn_url: 'postgres://10.0.0.4:5432/postgres',
                tags: { replicatefrom: 'pg3' },
                xlog_location: 1,
              }),
              index: 8,
            },
            'members/pg5': {
              value: member({
                conn_url: 'postgres://10.0.0.5:5432/postgres',
                tags: { replicatefrom: 'pg1' },
                xlog_location: 119537760 + 2 ** 19,
              }),
              index: 13,
            },
          },
        },
      ];
      const runs: { cluster: number; fmt: OutputFormat; extended: boolean }[] = [];
      clusters.forEach((_, i) => {
        for (const fmt of ['pretty', 'tsv', 'json', 'yaml', 'topology'] as OutputFormat[]) {
          runs.push({ cluster: i, fmt, extended: false });
        }
        runs.push({ cluster: i, fmt: 'pretty', extended: true });
      });
      const py = runPython(
        `
import json, sys
import patroni.ctl as ctl
from patroni.dcs.raft import Raft
data = json.loads(sys.stdin.read())
loader = Raft.__new__(Raft)
for run in data['runs']:
    c = data['clusters'][run['cluster']]
    cluster = loader._cluster_from_nodes(c['nodes']) if c['nodes'] else ctl.Cluster.empty() if hasattr(ctl, 'Cluster') else None
    if cluster is None:
        from patroni.dcs import Cluster
        cluster = Cluster.empty()
    ctl.output_members({}, cluster, c['name'], run['extended'], run['fmt'])
    sys.stdout.write(${JSON.stringify(SEP)})
`,
        JSON.stringify({ clusters, runs }),
      );
      const expected = py.split(SEP);
      /** the top border (with the title in it) replaced by the plain rule under the header */
      const untitle = (text: string) => {
        const lines = text.split('\n');
        if (lines[0]?.startsWith('+ ')) lines[0] = lines[2] as string;
        return lines.join('\n');
      };
      runs.forEach((run, k) => {
        const c = clusters[run.cluster] as { name: string; nodes: Nodes };
        const cluster = buildCluster(Object.entries(c.nodes));
        const ours = formatMembers(cluster, c.name, { fmt: run.fmt, extended: run.extended });
        const init = c.nodes['initialize'];
        const id = init === undefined ? 'uninitialized' : init.value === '' ? 'initializing' : init.value;
        if (run.fmt === 'pretty' || run.fmt === 'topology') {
          expect(ours.split('\n')[0]).toContain(`+ Cluster: ${c.name} (${id}) `);
        }
        expect(untitle(ours), `${c.name} ${run.fmt}${run.extended ? ' -e' : ''}`).toBe(
          untitle(expected[k] as string),
        );
      });
    });

    it('diffs: difflib.unified_diff on random line sequences', () => {
      const rand = rng(11);
      const pool = [
        'a',
        'b',
        'c',
        'ttl: 30',
        'loop_wait: 10',
        '  parameters:',
        '    max_connections: 100',
        '',
      ];
      const pairs: [string[], string[]][] = [];
      for (let i = 0; i < 150; i++) {
        const a = Array.from(
          { length: Math.floor(rand() * 25) },
          () => pool[Math.floor(rand() * pool.length)] as string,
        );
        const b = a
          .filter(() => rand() > 0.2)
          .flatMap((x) => (rand() < 0.15 ? [x, pool[Math.floor(rand() * pool.length)] as string] : [x]));
        pairs.push([a, b]);
      }
      // long sequences exercise the popular-line heuristic (≥ 200 lines)
      const long = Array.from({ length: 260 }, (_, i) => (i % 3 === 0 ? 'same' : `l${i % 40}`));
      pairs.push([long, [...long.slice(0, 100), 'x', ...long.slice(120)]]);
      const py = runPython(
        `
import difflib, json, sys
for line in sys.stdin.read().split('\\n'):
    if not line: continue
    a, b = json.loads(line)
    sys.stdout.write(json.dumps(list(difflib.unified_diff(a, b, lineterm=''))) + '\\n')
`,
        `${pairs.map((p) => JSON.stringify(p)).join('\n')}\n`,
      );
      const expected = py.trimEnd().split('\n');
      pairs.forEach(([a, b], i) => {
        expect(unifiedDiff(a, b), JSON.stringify([a, b])).toEqual(JSON.parse(expected[i] as string));
      });
    });
  },
);

describe('ctl formatting (no Python needed)', () => {
  it('pyYamlLoad keeps mapping order, int/float distinction and YAML 1.1 scalars', () => {
    const v = pyYamlLoad('b: 1\na: 1.0\nc: on\nd: 0777\ne: 10:20\nf: 2024-01-01\ng: ~\nh: [1, x]\n');
    expect(v).toBeInstanceOf(Map);
    const m = v as Map<string, PyJson>;
    expect([...m.keys()]).toEqual(['b', 'a', 'c', 'd', 'e', 'f', 'g', 'h']);
    expect(m.get('b')).toBe(1);
    expect(String(m.get('a'))).toBe('1.0');
    expect(m.get('c')).toBe(true);
    expect(m.get('d')).toBe(511);
    expect(m.get('e')).toBe(620);
    expect(m.get('f')).toBe('2024-01-01');
    expect(m.get('g')).toBeNull();
    expect(m.get('h')).toEqual([1, 'x']);
  });
});
