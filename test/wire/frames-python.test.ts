/**
 * Frames against the real Debian pysyncobj: TS-encoded frames (plain, encrypted, wrapped) are fed
 * to a real `pysyncobj.tcp_connection.TcpConnection` over a socketpair and must be received as the
 * same values; frames made by that TcpConnection's own `send()` (wrap, pickle protocol 2, zlib 3,
 * Fernet) must decode to the same values here. Frames Python must reject make it disconnect.
 * One Python process per batch, bounded timeouts.
 */
import { expect, it } from 'vitest';
import { Fernet } from '../../src/wire/fernet.js';
import { encodeFrame, encodeFrameFromPickle, FrameDecoder, prefixFrame } from '../../src/wire/frame.js';
import { encodePickle } from '../../src/wire/pickle/index.js';
import {
  dict,
  float,
  PyFrozenSet,
  PySet,
  type PyValue,
  pyEquals,
  pyRepr,
  tcpNode,
  tuple,
} from '../../src/wire/value.js';
import { describePython, runPython } from '../helpers/python.js';
import { fromTypedJson, type TypedJson, toTypedJson } from '../helpers/typed-json.js';

const PASSWORD = 'interop-password-ü';

/**
 * stdin: {"password": str, "cases": [...]}; each case:
 *  {"mode": "decode", "encrypted": bool, "recvRandKey": hex|null, "frames": hex}
 *     → {"messages": [typed], "disconnected": bool}
 *  {"mode": "encode", "encrypted": bool, "sendRandKey": hex|null, "values": [typed]}
 *     → {"frames": hex}
 */
const PY = `
import json, socket, struct, sys, time
from pysyncobj.tcp_connection import TcpConnection
from pysyncobj.poller import createPoller
from pysyncobj.encryptor import getEncryptor
from pysyncobj.node import TCPNode, Node

def from_typed(t):
    if 'none' in t: return None
    if 'bool' in t: return t['bool']
    if 'int' in t: return int(t['int'])
    if 'float' in t: return struct.unpack('>d', bytes.fromhex(t['f64']))[0]
    if 'str' in t: return t['str']
    if 'bytes' in t: return bytes.fromhex(t['bytes'])
    if 'tuple' in t: return tuple(from_typed(x) for x in t['tuple'])
    if 'list' in t: return [from_typed(x) for x in t['list']]
    if 'dict' in t: return {from_typed(k): from_typed(v) for k, v in t['dict']}
    if 'set' in t: return set(from_typed(x) for x in t['set'])
    if 'frozenset' in t: return frozenset(from_typed(x) for x in t['frozenset'])
    if 'object' in t:
        state = from_typed(t['state'])
        cls = TCPNode if t['object'].endswith('TCPNode') else Node
        o = cls.__new__(cls); o.__dict__.update(state); return o
    raise ValueError(t)

def to_typed(v):
    if v is None: return {'none': None}
    if isinstance(v, bool): return {'bool': v}
    if isinstance(v, int): return {'int': str(v)}
    if isinstance(v, float): return {'float': repr(v), 'f64': struct.pack('>d', v).hex()}
    if isinstance(v, str): return {'str': v}
    if isinstance(v, bytes): return {'bytes': v.hex()}
    if isinstance(v, tuple): return {'tuple': [to_typed(x) for x in v]}
    if isinstance(v, list): return {'list': [to_typed(x) for x in v]}
    if isinstance(v, dict): return {'dict': [[to_typed(k), to_typed(x)] for k, x in v.items()]}
    if isinstance(v, frozenset): return {'frozenset': [to_typed(x) for x in v]}
    if isinstance(v, set): return {'set': [to_typed(x) for x in v]}
    if isinstance(v, Node):
        return {'object': type(v).__module__ + '.' + type(v).__name__, 'state': to_typed(dict(v.__dict__))}
    raise TypeError(type(v))

req = json.load(sys.stdin)
enc = getEncryptor(req['password'])
out = []
for case in req['cases']:
    poller = createPoller('select')
    a, b = socket.socketpair()
    a.setblocking(False); b.setblocking(False)
    got = []; state = {'disconnected': False}
    conn = TcpConnection(poller, onMessageReceived=got.append, socket=a, timeout=30.0)
    conn.setOnDisconnectedCallback(lambda: state.__setitem__('disconnected', True))
    if case['encrypted']: conn.encryptor = enc
    if case['mode'] == 'decode':
        if case.get('recvRandKey'): conn.recvRandKey = bytes.fromhex(case['recvRandKey'])
        data = memoryview(bytes.fromhex(case['frames']))
        deadline = time.monotonic() + 20
        want = case['expect']
        while (len(data) or len(got) < want) and not state['disconnected'] and time.monotonic() < deadline:
            if len(data):
                try: data = data[b.send(data[:65536]):]
                except BlockingIOError: pass
            poller.poll(0.01)
        # give a trailing bad frame the chance to be read
        for _ in range(3): poller.poll(0.01)
        out.append({'messages': [to_typed(m) for m in got], 'disconnected': state['disconnected']})
    else:
        if case.get('sendRandKey'): conn.sendRandKey = bytes.fromhex(case['sendRandKey'])
        for v in case['values']:
            conn.send(from_typed(v))
        data = b''
        deadline = time.monotonic() + 10
        while conn.getSendBufferSize() > 0 and time.monotonic() < deadline:
            poller.poll(0.01)
            try: data += b.recv(1 << 20)
            except BlockingIOError: pass
        while True:
            try:
                chunk = b.recv(1 << 20)
                if not chunk: break
                data += chunk
            except BlockingIOError: break
        out.append({'frames': data.hex()})
    try: conn.disconnect()
    except Exception: pass
    b.close()
json.dump(out, sys.stdout)
`;

interface DecodeCase {
  mode: 'decode';
  encrypted: boolean;
  recvRandKey: string | null;
  frames: string;
  expect: number;
}
interface EncodeCase {
  mode: 'encode';
  encrypted: boolean;
  sendRandKey: string | null;
  values: TypedJson[];
}
type Case = DecodeCase | EncodeCase;
interface DecodeResult {
  messages: TypedJson[];
  disconnected: boolean;
}
interface EncodeResult {
  frames: string;
}

function runBatch(cases: Case[]): (DecodeResult | EncodeResult)[] {
  const stdout = runPython(PY, JSON.stringify({ password: PASSWORD, cases }), 120_000);
  return JSON.parse(stdout) as (DecodeResult | EncodeResult)[];
}

function expectPyEqual(actual: PyValue | undefined, expected: PyValue, where: string): void {
  if (actual === undefined || !pyEquals(actual, expected)) {
    throw new Error(
      `${where}: values differ\n  actual:   ${actual === undefined ? 'undefined' : pyRepr(actual)}\n  expected: ${pyRepr(expected)}`,
    );
  }
}

const messages: PyValue[] = [
  '127.0.0.1:21002',
  'readonly',
  ['status'],
  dict({ type: 'request_vote', term: 7, last_log_index: 40, last_log_term: 6 }),
  dict({
    type: 'append_entries',
    term: 3,
    commit_index: 9,
    entries: [
      tuple(Buffer.from([1]), 10, 3),
      tuple(Buffer.from('0080024b02580100000078710085710171022e', 'hex'), 11, 3),
      tuple(
        Buffer.concat([
          Buffer.from([2]),
          encodePickle(['add', '127.0.0.1:21004', tcpNode('127.0.0.1:21004')]),
        ]),
        12,
        3,
      ),
    ],
    prevLogIdx: 9,
    prevLogTerm: 2,
  }),
  dict({ type: 'next_node_idx', next_node_idx: 5, reset: false, success: true }),
  dict({ type: 'apply_command_response', request_id: 1, error: 2 }),
  dict({ f: float(1795683786.7199855), neg: -1, big: 2n ** 64n + 1n, nan: float(-0), s: 'ünï€😀', n: null }),
  tuple(new PySet([1, 2, 3]), new PyFrozenSet(['a'])),
  tcpNode('[::1]:5000'),
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  Buffer.alloc(0),
  dict({ big: 'x'.repeat(200_000) }),
];

describePython('frames against the real pysyncobj TcpConnection', () => {
  const fernet = Fernet.fromPassword(PASSWORD);
  const key = Buffer.alloc(32, 0x3c);

  it('Python receives TS-encoded frames: plain, encrypted, wrapped, spliced; rejects bad ones', () => {
    const variants: { name: string; frames: Buffer; encrypted: boolean; recvRandKey: Buffer | null }[] = [
      {
        name: 'plain',
        frames: Buffer.concat(messages.map((m) => encodeFrame(m))),
        encrypted: false,
        recvRandKey: null,
      },
      {
        name: 'plain wrapped',
        frames: Buffer.concat(messages.map((m) => encodeFrame(m, { sendRandKey: key }))),
        encrypted: false,
        recvRandKey: key,
      },
      {
        name: 'encrypted',
        frames: Buffer.concat(messages.map((m) => encodeFrame(m, { fernet }))),
        encrypted: true,
        recvRandKey: null,
      },
      {
        name: 'encrypted wrapped',
        frames: Buffer.concat(messages.map((m) => encodeFrame(m, { fernet, sendRandKey: key }))),
        encrypted: true,
        recvRandKey: key,
      },
      {
        name: 'encrypted wrapped, spliced from pickle bytes',
        frames: Buffer.concat(
          messages.map((m) => encodeFrameFromPickle(encodePickle(m), { fernet, sendRandKey: key })),
        ),
        encrypted: true,
        recvRandKey: key,
      },
    ];
    const bad: { name: string; frames: Buffer; encrypted: boolean; recvRandKey: Buffer | null }[] = [
      {
        name: 'wrong rand key',
        frames: encodeFrame('x', { fernet, sendRandKey: Buffer.alloc(32, 1) }),
        encrypted: true,
        recvRandKey: key,
      },
      {
        name: 'other password',
        frames: encodeFrame('x', { fernet: Fernet.fromPassword('nope') }),
        encrypted: true,
        recvRandKey: null,
      },
      { name: 'not zlib', frames: prefixFrame(Buffer.from('garbage')), encrypted: false, recvRandKey: null },
    ];
    const cases: Case[] = [...variants, ...bad].map((v, i) => ({
      mode: 'decode',
      encrypted: v.encrypted,
      recvRandKey: v.recvRandKey?.toString('hex') ?? null,
      frames: v.frames.toString('hex'),
      expect: i < variants.length ? messages.length : 1,
    }));
    const results = runBatch(cases) as DecodeResult[];
    variants.forEach((v, i) => {
      const r = results[i] as DecodeResult;
      expect(r.disconnected, v.name).toBe(false);
      expect(r.messages.length, v.name).toBe(messages.length);
      r.messages.forEach((m, k) => {
        expectPyEqual(fromTypedJson(m), messages[k] as PyValue, `${v.name} #${k}`);
      });
    });
    bad.forEach((v, i) => {
      const r = results[variants.length + i] as DecodeResult;
      expect(r.messages, v.name).toEqual([]);
      expect(r.disconnected, v.name).toBe(true);
    });
  });

  it('TS decodes frames made by TcpConnection.send(): plain, encrypted, wrapped', () => {
    const typed = messages.map(toTypedJson);
    const variants = [
      { encrypted: false, sendRandKey: null },
      { encrypted: false, sendRandKey: key },
      { encrypted: true, sendRandKey: null },
      { encrypted: true, sendRandKey: key },
    ];
    const results = runBatch(
      variants.map((v) => ({
        mode: 'encode',
        encrypted: v.encrypted,
        sendRandKey: v.sendRandKey?.toString('hex') ?? null,
        values: typed,
      })),
    ) as EncodeResult[];
    variants.forEach((v, i) => {
      const name = `${v.encrypted ? 'encrypted' : 'plain'}${v.sendRandKey ? ' wrapped' : ''}`;
      const bytes = Buffer.from((results[i] as EncodeResult).frames, 'hex');
      const dec = new FrameDecoder({
        fernet: v.encrypted ? fernet : null,
        keys: { recvRandKey: v.sendRandKey },
      });
      dec.push(bytes);
      dec.end();
      const got = [...dec];
      expect(got.length, name).toBe(messages.length);
      got.forEach((f, k) => {
        expectPyEqual(f.message, messages[k] as PyValue, `${name} #${k}`);
        if (v.encrypted) {
          // 0.3.11 stamps int(time.time())
          expect(Math.abs(Number(f.tokenTimestampSec) - Date.now() / 1000), name).toBeLessThan(300);
        }
      });
      // Python's zlib level 3 header
      expect(bytes.subarray(4, 6).toString('hex') === '785e' || v.encrypted, name).toBe(true);
    });
  });
});
