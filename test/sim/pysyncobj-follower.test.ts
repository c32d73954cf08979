/**
 * The pysyncobj follower model (pysyncobj-follower.ts) against the real thing: the same message
 * sequences go to the model and to a Debian python3-pysyncobj 0.3.11 SyncObj (no ticks, no network:
 * its `__onMessageReceived` is called directly, then `_checkCommandsToApply` — the part of its tick
 * that answers forwarded commands — and its transport's `send` records the replies).
 * After every message the replies, the log, the commit index, the term, the vote and the leader
 * must be equal.
 *
 * Sequences: scripted cases for each documented behaviour, then seeded random ones from three
 * leaders with diverging logs (stale, current and later terms; prevLogIdx anywhere, wrong
 * prevLogTerm, heartbeats, transmitted entries, snapshots that load and that do not, votes,
 * forwarded commands).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import type { LogEntry, RaftMessage } from '../../src/raft/core/types.js';
import { entryFromPy, entryToPy, messageFromPy, messageToPy } from '../../src/raft/messages.js';
import { decodeDumpPickle, encodeDumpPickle } from '../../src/raft/snapshot/dump.js';
import { decodePickle, encodePickle } from '../../src/wire/pickle/index.js';
import type { PyDictKey, PyValue } from '../../src/wire/value.js';
import { fromJ, type J, PY_JSON_FUNCTIONS, toJ } from '../helpers/py-json.js';
import { describePython, runPython } from '../helpers/python.js';
import { PysyncobjFollower } from './pysyncobj-follower.js';
import { Rng } from './rng.js';

const SELF = '127.0.0.1:1';
const X = '127.0.0.1:2';
const Y = '127.0.0.1:3';
const Z = '127.0.0.1:4';

interface Step {
  readonly from: string;
  readonly message: RaftMessage;
}

interface Observed {
  /** as pysyncobj dicts (JSON form): the keys sent matter (no `term` in next_node_idx) */
  replies: { to: string; message: J }[];
  log: [number, number, string][];
  commitIndex: number;
  term: number;
  votedFor: string | null;
  leader: string | null;
}

const PY_DRIVER = `
import sys, json, logging
logging.disable(logging.CRITICAL)
from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.node import TCPNode
${PY_JSON_FUNCTIONS}
results = []
for case in json.load(sys.stdin):
    conf = SyncObjConf(autoTick=False, dynamicMembershipChange=False, commandsWaitLeader=False)
    o = SyncObj(case['self'], case['peers'], conf)
    sent = []
    o._SyncObj__transport.send = lambda node, msg: sent.append((node.id, msg)) or True
    nodes = {p: TCPNode(p) for p in case['peers']}
    observed = []
    for step in case['steps']:
        del sent[:]
        o._SyncObj__onMessageReceived(nodes[step['from']], fromJ(step['message']))
        o._checkCommandsToApply()  # the part of its tick that answers forwarded commands
        leader = o._SyncObj__raftLeader
        observed.append({
            'replies': [{'to': to, 'message': toJ(m)} for to, m in sent],
            'log': [[e[1], e[2], bytes(e[0]).hex()] for e in o._SyncObj__raftLog],
            'commitIndex': o._SyncObj__raftCommitIndex,
            'term': o._SyncObj__raftCurrentTerm,
            'votedFor': o._SyncObj__votedForNodeId,
            'leader': None if leader is None else leader.id,
        })
    results.append(observed)
    o.destroy()
json.dump(results, sys.stdout)
`;

function runReal(cases: Step[][]): Observed[][] {
  const input = cases.map((steps) => ({
    self: SELF,
    peers: [X, Y, Z],
    steps: steps.map((s) => ({ from: s.from, message: toJ(messageToPy(s.message)) })),
  }));
  const raw = JSON.parse(runPython(PY_DRIVER, JSON.stringify(input), 120_000)) as Observed[][];
  // every reply decodes as a message of ours
  for (const obs of raw) for (const o of obs) for (const r of o.replies) messageFromPy(fromJ(r.message));
  return raw;
}

function loadSnapshot(data: Uint8Array): { prevEntry: LogEntry; lastEntry: LogEntry } | null {
  try {
    const d = decodeDumpPickle(gunzipSync(data));
    return { prevEntry: d.prevEntry, lastEntry: d.lastEntry };
  } catch {
    return null;
  }
}

function runModel(steps: Step[]): Observed[] {
  const m = new PysyncobjFollower(SELF, [entry(1, 0, 0x01)], 0, {
    decodeTransmittedEntry: (data) => entryFromPy(decodePickle(data)),
    loadSnapshot,
  });
  return steps.map((s) => ({
    replies: m.step(s.from, s.message).map((r) => ({ to: r.to, message: toJ(messageToPy(r.message)) })),
    log: m
      .entries()
      .map((e): [number, number, string] => [e.index, e.term, Buffer.from(e.command).toString('hex')]),
    commitIndex: m.commitIndex,
    term: m.term,
    votedFor: m.votedFor,
    leader: m.leader,
  }));
}

// ------------------------------------------------------------------------------------------------
// message builders

function entry(index: number, term: number, id = index): LogEntry {
  return {
    command: id === 0x01 ? Uint8Array.of(0x01) : Uint8Array.of(0x00, id & 0xff, term & 0xff),
    index,
    term,
  };
}

/** a leader's log: index 1 (term 0), then `shared` entries of term 1, then its own of `term` */
function leaderLog(shared: number, own: number, term: number): LogEntry[] {
  const log = [entry(1, 0, 0x01)];
  for (let i = 2; i <= shared + 1; i++) log.push(entry(i, 1));
  for (let i = shared + 2; i <= shared + 1 + own; i++) log.push(entry(i, term));
  return log;
}

function append(term: number, log: LogEntry[], prev: number, count: number, commit: number): RaftMessage {
  return {
    type: 'append_entries',
    term,
    commitIndex: commit,
    prevLogIdx: prev,
    prevLogTerm: log[prev - 1]?.term ?? 0,
    entries: log.slice(prev, prev + count),
  };
}

function transmission(
  term: number,
  log: LogEntry[],
  prev: number,
  commit: number,
  parts: number,
): RaftMessage[] {
  const data = encodePickle(entryToPy(log[prev] as LogEntry));
  const size = Math.ceil(data.length / parts);
  const out: RaftMessage[] = [];
  for (let i = 0; i < parts; i++) {
    out.push({
      type: 'append_entries_transmission',
      term,
      commitIndex: commit,
      prevLogIdx: prev,
      prevLogTerm: log[prev - 1]?.term ?? 0,
      transmission: i === 0 ? 'start' : i === parts - 1 ? 'finish' : 'process',
      data: data.subarray(i * size, (i + 1) * size),
    });
  }
  return out;
}

function snapshot(term: number, commit: number, data: Uint8Array, parts: number): RaftMessage[] {
  const size = Math.ceil(data.length / parts);
  const out: RaftMessage[] = [];
  for (let i = 0; i < parts; i++) {
    out.push({
      type: 'append_entries_snapshot',
      term,
      commitIndex: commit,
      serialized: {
        data: data.subarray(i * size, (i + 1) * size),
        isFirst: i === 0,
        isLast: i === parts - 1,
      },
    });
  }
  return out;
}

function dumpAt(log: LogEntry[], index: number): Uint8Array {
  return gzipSync(
    encodeDumpPickle({
      data: new Map<PyDictKey, PyValue>([['_SyncObj__enabledCodeVersion', 0]]),
      lastEntry: log[index - 1] as LogEntry,
      prevEntry: log[index - 2] as LogEntry,
      cluster: [SELF, X, Y, Z],
    }),
  );
}

const vote = (term: number, lastLogIndex: number, lastLogTerm: number): RaftMessage => ({
  type: 'request_vote',
  term,
  lastLogIndex,
  lastLogTerm,
});

// ------------------------------------------------------------------------------------------------

const LX = leaderLog(6, 6, 2);
const LY = leaderLog(3, 8, 3);

const SCRIPTED: Step[][] = [
  // appends, a heartbeat that cuts the log back, one-short acknowledgements, commit going down
  [
    { from: X, message: append(2, LX, 1, 5, 4) },
    { from: X, message: append(2, LX, 6, 0, 6) },
    { from: X, message: append(2, LX, 3, 0, 6) },
    { from: X, message: append(2, LX, 3, 2, 9) },
  ],
  // prevLogIdx beyond the log, compacted (0), term mismatch; a stale append is not answered
  [
    { from: X, message: append(2, LX, 1, 3, 1) },
    { from: X, message: append(2, LX, 9, 1, 1) },
    { from: X, message: append(2, LX, 0, 1, 1) },
    { from: Y, message: append(3, LY, 4, 2, 1) },
    { from: X, message: append(2, LX, 4, 2, 1) },
    { from: Y, message: append(3, LY, 3, 2, 1) },
  ],
  // votes: up-to-date check, one vote per term, a higher term resets the vote and the leader
  [
    { from: X, message: append(2, LX, 1, 4, 1) },
    { from: Y, message: vote(3, 4, 1) },
    { from: Y, message: vote(3, 5, 1) },
    { from: Z, message: vote(3, 9, 2) },
    { from: Z, message: vote(4, 9, 2) },
    { from: X, message: append(2, LX, 5, 1, 1) },
  ],
  // a transmitted entry, a snapshot that loads (log replaced) and one that does not (log kept)
  [
    { from: X, message: append(2, LX, 1, 2, 1) },
    ...transmission(2, LX, 3, 2, 3).map((message) => ({ from: X, message })),
    ...snapshot(2, 9, dumpAt(LX, 9), 3).map((message) => ({ from: X, message })),
    { from: X, message: append(2, LX, 9, 2, 9) },
    ...snapshot(2, 12, Uint8Array.of(1, 2, 3), 2).map((message) => ({ from: X, message })),
    { from: X, message: { type: 'apply_command', command: Uint8Array.of(0, 1), requestId: 7 } },
  ],
];

function randomCase(seed: number): Step[] {
  const rng = new Rng(seed);
  const leaders = [
    { id: X, term: 2, log: leaderLog(rng.int(0, 6), rng.int(0, 8), 2) },
    { id: Y, term: 3, log: leaderLog(rng.int(0, 6), rng.int(0, 8), 3) },
    { id: Z, term: 4, log: leaderLog(rng.int(0, 6), rng.int(0, 8), 4) },
  ];
  const steps: Step[] = [];
  while (steps.length < 60) {
    const l = rng.pick(leaders);
    const term = l.term + rng.pick([-1, 0, 0, 0, 0, 1]);
    const n = l.log.length;
    const commit = rng.int(0, n);
    const r = rng.next();
    if (r < 0.6) {
      const prev = rng.int(0, n + 1);
      const m = append(term, l.log, prev, rng.int(0, 4), commit) as Extract<
        RaftMessage,
        { type: 'append_entries' }
      >;
      const wrongTerm = rng.chance(0.1);
      steps.push({ from: l.id, message: wrongTerm ? { ...m, prevLogTerm: m.prevLogTerm + 1 } : m });
    } else if (r < 0.68 && n >= 2) {
      const prev = rng.int(1, n - 1);
      for (const message of transmission(term, l.log, prev, commit, rng.int(2, 4)))
        steps.push({ from: l.id, message });
    } else if (r < 0.74 && n >= 3) {
      const data = rng.chance(0.7) ? dumpAt(l.log, rng.int(2, n)) : Uint8Array.of(rng.int(0, 255));
      for (const message of snapshot(term, commit, data, rng.int(1, 3))) steps.push({ from: l.id, message });
    } else if (r < 0.88) {
      steps.push({ from: l.id, message: vote(term, rng.int(1, n + 2), rng.int(0, l.term)) });
    } else if (r < 0.94) {
      const requestId = rng.chance(0.5) ? rng.int(1, 99) : undefined;
      const command = Uint8Array.of(0, rng.int(0, 255));
      steps.push({
        from: l.id,
        message:
          requestId === undefined
            ? { type: 'apply_command', command }
            : { type: 'apply_command', command, requestId },
      });
    } else {
      const message: RaftMessage = rng.chance(0.5)
        ? {
            type: 'next_node_idx',
            nextNodeIdx: rng.int(1, 9),
            reset: rng.chance(0.5),
            success: rng.chance(0.5),
          }
        : { type: 'response_vote', term };
      steps.push({ from: l.id, message });
    }
  }
  return steps;
}

describePython('the pysyncobj follower model matches pysyncobj 0.3.11', () => {
  it('scripted and random message sequences: same replies and state after every message', () => {
    const cases = [...SCRIPTED, ...Array.from({ length: 40 }, (_, i) => randomCase(i + 1))];
    const real = runReal(cases);
    for (let c = 0; c < cases.length; c++) {
      const model = runModel(cases[c] as Step[]);
      const py = real[c] as Observed[];
      for (let s = 0; s < model.length; s++) {
        const step = (cases[c] as Step[])[s] as Step;
        expect(model[s], `case ${c} step ${s}: ${step.message.type} from ${step.from}`).toEqual(py[s]);
      }
    }
  }, 120_000);
});
