/**
 * Codec benchmark: encode + zlib + unzlib + decode of a realistic `append_entries` carrying 100
 * Patroni `_set` entries, messages per second, ours against CPython's pickle + zlib on the same
 * message (spawned /usr/bin/python3), with the ratio.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync, inflateSync } from 'node:zlib';
import { encodeMethodCall } from '../src/raft/commands.js';
import { messageToPy } from '../src/raft/messages.js';
import { decodePickle, encodePickle } from '../src/wire/pickle/index.js';
import { PyFloat, type PyValue } from '../src/wire/value.js';

const here = dirname(fileURLToPath(import.meta.url));
/** bench/ in the source tree (also when running the compiled copy in .bench-build/bench/) */
const benchDir = existsSync(join(here, 'python')) ? here : resolve(here, '../../bench');

export function sampleAppendEntries(count = 100): PyValue {
  const entries = [];
  const t = 1_795_682_935.9949803;
  for (let i = 0; i < count; i++) {
    const record = new Map<string, PyValue>([
      [
        'value',
        JSON.stringify({
          conn_url: `postgres://10.0.0.${i % 250}:5432/postgres`,
          api_url: `http://10.0.0.${i % 250}:8008/patroni`,
          state: 'running',
          role: 'replica',
          version: '3.0.2',
          xlog_location: 67108960 + i,
          timeline: 2,
        }),
      ],
      ['updated', new PyFloat(t + i)],
      ['created', new PyFloat(t)],
      ['expire', new PyFloat(t + i + 30)],
    ]);
    const command = encodeMethodCall({
      funcId: 2,
      args: [`/service/batman/members/pg${i}`, record],
      kwargs: undefined,
    });
    entries.push({ command, index: 1000 + i, term: 7 });
  }
  return messageToPy({
    type: 'append_entries',
    term: 7,
    commitIndex: 999,
    prevLogIdx: 999,
    prevLogTerm: 7,
    entries,
  });
}

export interface CodecResult {
  readonly ours: number;
  readonly oursBinbytes: number;
  readonly python: number | null;
  readonly pickleBytes: number;
  readonly zlibBytes: number;
  readonly pythonNote?: string;
}

function measure(seconds: number, fn: () => void): number {
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  let n = 0;
  while (true) {
    for (let i = 0; i < 50; i++) fn();
    n += 50;
    if (performance.now() >= deadline) break;
  }
  return n / ((performance.now() - t0) / 1000);
}

export function benchCodec(seconds = 3): CodecResult {
  const msg = sampleAppendEntries();
  const pickle = encodePickle(msg);
  const roundTrip = (bytesMode: 'canonical' | 'binbytes') => () => {
    const p = encodePickle(msg, { bytes: bytesMode });
    const z = deflateSync(p, { level: 3 });
    decodePickle(inflateSync(z));
  };
  measure(0.5, roundTrip('canonical')); // warm-up
  const ours = measure(seconds, roundTrip('canonical'));
  const oursBinbytes = measure(seconds, roundTrip('binbytes'));
  const zlibBytes = deflateSync(pickle, { level: 3 }).length;
  const py = spawnSync('/usr/bin/python3', [join(benchDir, 'python/codec_baseline.py'), String(seconds)], {
    input: pickle,
    encoding: 'utf8',
    timeout: (seconds + 30) * 1000,
  });
  if (py.status !== 0) {
    return {
      ours,
      oursBinbytes,
      python: null,
      pickleBytes: pickle.length,
      zlibBytes,
      pythonNote: (py.stderr || String(py.error)).trim(),
    };
  }
  const r = JSON.parse(py.stdout.trim().split('\n').pop() as string) as { msgs_per_s: number };
  return { ours, oursBinbytes, python: r.msgs_per_s, pickleBytes: pickle.length, zlibBytes };
}
