/**
 * TcpTransport against the real Debian python3-pysyncobj (0.3.11):
 * - pysyncobj's own TCPTransport (driven by a small harness: stdin commands, stdout events) in both
 *   connection directions, plain and with a password, and read-only both ways: handshakes complete,
 *   messages cross and decode;
 * - our raftdcs_ping keeps an idle connection alive where pysyncobj would drop it on first use and
 *   lose the message (a control run without pings shows the loss);
 * - a real SyncObj elects itself with our vote, keeps working with our pings, answers our
 *   TcpUtility `status`;
 * - Debian's syncobj_admin talks to our utility server (plain and with -pass).
 * Every wait is bounded; Python processes are killed after each test.
 */
import { type ChildProcessWithoutNullStreams, execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterEach, expect, it } from 'vitest';
import { formatUtilityResult } from '../../src/raft/transport/utility.js';
import { TcpUtility } from '../../src/raft/transport/utility-client.js';
import { dict, type PyDict, type PyValue, pyEquals, pyRepr, tcpNode, tuple } from '../../src/wire/value.js';
import { describePython, PYTHON } from '../helpers/python.js';
import { fromTypedJson, type TypedJson, toTypedJson } from '../helpers/typed-json.js';
import { delay, freeAddress, Nodes, until, within } from './transport-helpers.js';

const PASSWORD = 'interop-password-ü';
const execFileP = promisify(execFile);

const TYPED = `
import json, struct, sys
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
    if isinstance(v, Node):
        return {'object': type(v).__module__ + '.' + type(v).__name__, 'state': to_typed(dict(v.__dict__))}
    raise TypeError(type(v))

def out(ev):
    sys.stdout.write(json.dumps(ev) + '\\n'); sys.stdout.flush()
`;

/** pysyncobj's TCPTransport with a stub SyncObj: argv[1] = config JSON; stdin = commands; stdout = events. */
const TRANSPORT_HARNESS = `${TYPED}
import queue, threading
from pysyncobj.transport import TCPTransport
from pysyncobj.poller import createPoller
from pysyncobj.config import SyncObjConf
from pysyncobj.encryptor import getEncryptor

cfg = json.loads(sys.argv[1])
conf = SyncObjConf(password=cfg.get('password'), connectionTimeout=cfg['timeout'],
                   connectionRetryTime=0.1, bindRetryTime=0.1)

class StubSyncObj:
    def __init__(self):
        self.conf = conf
        self._poller = createPoller('select')
        self.encryptor = getEncryptor(conf.password) if conf.password else None
        self.ticks = []
    def addOnTickCallback(self, cb):
        self.ticks.append(cb)

stub = StubSyncObj()
t = TCPTransport(stub, TCPNode(cfg['self']) if cfg['self'] else None, [TCPNode(a) for a in cfg['peers']])
nodes = {}
def remember(node):
    nodes[node.id] = node
    return node.id
t.setOnMessageReceivedCallback(lambda node, msg: out({'ev': 'message', 'peer': remember(node), 'msg': to_typed(msg)}))
t.setOnNodeConnectedCallback(lambda node: out({'ev': 'connected', 'peer': remember(node)}))
t.setOnNodeDisconnectedCallback(lambda node: out({'ev': 'disconnected', 'peer': node.id}))
t.setOnReadonlyNodeConnectedCallback(lambda node: out({'ev': 'ro_connected', 'peer': remember(node)}))
t.setOnReadonlyNodeDisconnectedCallback(lambda node: out({'ev': 'ro_disconnected', 'peer': node.id}))

q = queue.Queue()
def reader():
    for line in sys.stdin:
        q.put(json.loads(line))
    q.put(None)
threading.Thread(target=reader, daemon=True).start()

ready = False
while True:
    stub._poller.poll(0.005)
    for cb in stub.ticks:
        cb()
    if not ready and t.ready:
        ready = True
        out({'ev': 'ready'})
    while not q.empty():
        cmd = q.get()
        if cmd is None:
            t.destroy()
            sys.exit(0)
        if cmd['op'] == 'send':
            ok = t.send(nodes[cmd['peer']], from_typed(cmd['msg']))
            out({'ev': 'sent', 'ok': ok, 'id': cmd['id']})
        if cmd['op'] == 'addnode':
            t.addNode(TCPNode(cmd['addr']))
            out({'ev': 'added', 'id': cmd['id']})
`;

/** A real SyncObj (autoTick thread) with one partner; runs until stdin closes. */
const SYNCOBJ_HARNESS = `${TYPED}
from pysyncobj import SyncObj, SyncObjConf
cfg = json.loads(sys.argv[1])
conf = SyncObjConf(password=cfg.get('password'), autoTick=True, connectionTimeout=cfg['timeout'],
                   raftMinTimeout=0.2, raftMaxTimeout=0.4, appendEntriesPeriod=0.05,
                   connectionRetryTime=0.1, bindRetryTime=0.1)
o = SyncObj(cfg['self'], cfg['peers'], conf)
out({'ev': 'started'})
sys.stdin.read()
o.destroy()
`;

type PyEvent = { ev: string; peer?: string; msg?: TypedJson; ok?: boolean; id?: number };

class PyProc {
  readonly events: PyEvent[] = [];
  readonly proc: ChildProcessWithoutNullStreams;
  stderr = '';
  #waiters: { pred: (e: PyEvent) => boolean; resolve: (e: PyEvent) => void }[] = [];
  #sendId = 0;
  readonly exited: Promise<void>;

  constructor(code: string, config: Record<string, unknown>) {
    this.proc = spawn(PYTHON, ['-u', '-c', code, JSON.stringify(config)], { stdio: 'pipe' });
    this.proc.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => this.proc.once('exit', () => resolve()));
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const e = JSON.parse(line) as PyEvent;
      this.events.push(e);
      for (const w of this.#waiters.splice(0)) {
        if (w.pred(e)) w.resolve(e);
        else this.#waiters.push(w);
      }
    });
  }

  waitFor(pred: (e: PyEvent) => boolean, what: string, timeoutMs = 10_000): Promise<PyEvent> {
    const have = this.events.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `python: timed out waiting for ${what}; events ${JSON.stringify(this.events.slice(-10))}; stderr ${this.stderr}`,
            ),
          ),
        timeoutMs,
      );
      this.#waiters.push({
        pred,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  /** Ask the harness to send `msg` to `peer`; resolves to pysyncobj's send() result. */
  async send(peer: string, msg: PyValue): Promise<boolean> {
    const id = ++this.#sendId;
    this.proc.stdin.write(`${JSON.stringify({ op: 'send', peer, id, msg: toTypedJson(msg) })}\n`);
    const e = await this.waitFor((x) => x.ev === 'sent' && x.id === id, `send #${id}`);
    return e.ok === true;
  }

  /** The node learns a voting node (as when it applies the entry that adds it). */
  async addNode(addr: string): Promise<void> {
    const id = ++this.#sendId;
    this.proc.stdin.write(`${JSON.stringify({ op: 'addnode', addr, id })}\n`);
    await this.waitFor((x) => x.ev === 'added' && x.id === id, `addnode #${id}`);
  }

  messages(peer?: string): PyValue[] {
    return this.events
      .filter((e) => e.ev === 'message' && (peer === undefined || e.peer === peer))
      .map((e) => fromTypedJson(e.msg as TypedJson));
  }

  async kill(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}

function expectPy(actual: PyValue | undefined, expected: PyValue): void {
  if (actual === undefined || !pyEquals(actual, expected)) {
    throw new Error(
      `expected ${pyRepr(expected)}, got ${actual === undefined ? 'undefined' : pyRepr(actual)}`,
    );
  }
}

const isPingDict = (m: PyValue): boolean => m instanceof Map && m.get('type') === 'raftdcs_ping';
const typeOf = (m: PyValue): PyValue | undefined => (m instanceof Map ? m.get('type') : undefined);

describePython('TcpTransport ↔ real pysyncobj 0.3.11', () => {
  const nodes = new Nodes();
  const procs: PyProc[] = [];
  const python = (code: string, config: Record<string, unknown>): PyProc => {
    const p = new PyProc(code, config);
    procs.push(p);
    return p;
  };
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill()));
    await nodes.destroyAll();
  });

  const sample: PyValue[] = [
    dict({ type: 'request_vote', term: 7, last_log_index: 40, last_log_term: 6 }),
    dict({
      type: 'append_entries',
      term: 3,
      commit_index: 9,
      entries: [tuple(Buffer.from([1]), 10, 3), tuple(Buffer.alloc(50_000, 9), 11, 3)],
      prevLogIdx: 9,
      prevLogTerm: 2,
    }),
    dict({ type: 'apply_command_response', request_id: 1, error: 2 }),
    dict({ type: 'x', node: tcpNode('127.0.0.1:21004'), s: 'ünï€😀', big: 2n ** 64n }),
  ];

  for (const password of [null, PASSWORD]) {
    for (const tsConnects of [true, false]) {
      const name = `${password ? 'encrypted' : 'plain'}, ${tsConnects ? 'TS connects' : 'Python connects'}`;
      it(`node ↔ node (${name}): handshake, messages both ways`, async () => {
        const x = await freeAddress();
        const y = await freeAddress();
        const [ts, py] = x > y === tsConnects ? [x, y] : [y, x];
        const py1 = python(TRANSPORT_HARNESS, { self: py, peers: [ts], password, timeout: 3.5 });
        const n = await nodes.start(ts, [py], { password });
        await n.rec.connected(py, 10_000);
        await py1.waitFor((e) => e.ev === 'connected' && e.peer === ts, 'Python connected');
        expect(n.transport.peerInfo(py)?.direction).toBe(tsConnects ? 'out' : 'in');

        for (const m of sample) expect(n.transport.send(py, m)).toBe(true);
        for (const m of sample) expect(await py1.send(ts, m)).toBe(true);
        await py1.waitFor(
          (e) => e.ev === 'message' && e.msg !== undefined && JSON.stringify(e.msg).includes('"x"'),
          'our messages',
        );
        const got = py1.messages(ts).filter((m) => !isPingDict(m));
        expect(got.length).toBe(sample.length);
        sample.forEach((m, i) => {
          expectPy(got[i], m);
        });
        // our greeting ping reached pysyncobj's transport as an ordinary dict (its SyncObj ignores the type)
        expect(py1.messages(ts).some(isPingDict)).toBe(true);

        await n.rec.message(py, (m) => typeOf(m) === 'x', 10_000);
        const back = n.rec.messagesFrom(py);
        expect(back.length).toBe(sample.length);
        sample.forEach((m, i) => {
          expectPy(back[i], m);
        });
        expect(n.transport.peerInfo(py)?.peerPings).toBe(false);
      });
    }

    it(`read-only both ways (${password ? 'encrypted' : 'plain'})`, async () => {
      const tsAddr = await freeAddress();
      const pyAddr = await freeAddress();
      // a Python read-only transport connecting to a TS node
      const n = await nodes.start(tsAddr, [], { password });
      const pyRo = python(TRANSPORT_HARNESS, { self: null, peers: [tsAddr], password, timeout: 3.5 });
      await pyRo.waitFor((e) => e.ev === 'connected' && e.peer === tsAddr, 'Python read-only connected');
      const e = await n.rec.connected('0', 10_000);
      expect(e).toMatchObject({ readonly: true });
      n.transport.send('0', sample[1]!);
      expect(await pyRo.send(tsAddr, dict({ type: 'apply_command', command: Buffer.from([1, 2]) }))).toBe(
        true,
      );
      expectPy(
        await n.rec.message('0', () => true, 10_000),
        dict({ type: 'apply_command', command: Buffer.from([1, 2]) }),
      );
      await pyRo.waitFor(
        (x) => x.ev === 'message' && typeOf(fromTypedJson(x.msg!)) === 'append_entries',
        'entries',
      );

      // a TS read-only transport connecting to a Python node
      const pyNode = python(TRANSPORT_HARNESS, { self: pyAddr, peers: [], password, timeout: 3.5 });
      await pyNode.waitFor((x) => x.ev === 'ready', 'Python bound');
      const ro = await nodes.start(null, [pyAddr], { password });
      await ro.rec.connected(pyAddr, 10_000);
      await pyNode.waitFor((x) => x.ev === 'ro_connected' && x.peer === '0', 'Python numbers us 0');
      ro.transport.send(pyAddr, sample[0]!);
      await pyNode.waitFor(
        (x) => x.ev === 'message' && x.peer === '0' && typeOf(fromTypedJson(x.msg!)) === 'request_vote',
        'our request_vote',
      );
      expect(await pyNode.send('0', sample[2]!)).toBe(true);
      expectPy(await ro.rec.message(pyAddr, () => true, 10_000), sample[2]!);
    });
  }

  for (const password of [null, PASSWORD]) {
    it(`a pysyncobj node that does not know us: a read-only link it follows (${password ? 'encrypted' : 'plain'})`, async () => {
      const x = await freeAddress();
      const y = await freeAddress();
      const [ts, py] = x > y ? [x, y] : [y, x]; // we dial (our address is the greater)
      // it knows nobody: it closes our address hello, and accepts 'readonly'
      const py1 = python(TRANSPORT_HARNESS, { self: py, peers: [], password, timeout: 3.5 });
      await py1.waitFor((e) => e.ev === 'ready', 'Python bound');
      const n = await nodes.start(ts, [py], { password });
      await n.rec.connected(py, 10_000);
      await until(() => n.transport.isReadonlyLink(py), 'the read-only link', 10_000);
      const ro = await py1.waitFor((e) => e.ev === 'ro_connected', 'Python took us for read-only');
      // messages cross both ways and are ours / the node's
      expect(n.transport.send(py, sample[1]!)).toBe(true);
      await py1.waitFor(
        (e) => e.ev === 'message' && e.peer === ro.peer && typeOf(fromTypedJson(e.msg!)) === 'append_entries',
        'our append_entries on the read-only link',
      );
      expect(await py1.send(ro.peer as string, sample[2]!)).toBe(true);
      expectPy(await n.rec.message(py, (m) => typeOf(m) === 'apply_command_response', 10_000), sample[2]!);
      expect(n.transport.peerInfo(py)?.direction).toBe('out');
    });
  }

  it('a greater pysyncobj node that does not know us: dial-backs refused, then a read-only link; it dials us once it knows us', async () => {
    const x = await freeAddress();
    const y = await freeAddress();
    const [ts, py] = x > y ? [y, x] : [x, y]; // the node's address is the greater: it should dial
    const node = python(TRANSPORT_HARNESS, { self: py, peers: [], password: null, timeout: 3.5 });
    await node.waitFor((e) => e.ev === 'ready', 'Python bound');
    const n = await nodes.start(ts, [py], { connectionRetryTimeMs: 200 });
    await until(() => n.transport.isReadonlyLink(py), 'the read-only link', 10_000);
    const ro = await node.waitFor((e) => e.ev === 'ro_connected', 'Python took us for read-only');
    expect(n.transport.send(py, sample[1]!)).toBe(true);
    await node.waitFor(
      (e) => e.ev === 'message' && e.peer === ro.peer && typeOf(fromTypedJson(e.msg!)) === 'append_entries',
      'our append_entries on the read-only link',
    );
    expect(await node.send(ro.peer as string, sample[2]!)).toBe(true);
    expectPy(await n.rec.message(py, (m) => typeOf(m) === 'apply_command_response', 10_000), sample[2]!);
    // it learns us: it dials us, and that connection replaces the read-only link
    await node.addNode(ts);
    await node.waitFor((e) => e.ev === 'connected' && e.peer === ts, 'Python dials us', 10_000);
    await until(
      () => n.transport.isConnected(py) && !n.transport.isReadonlyLink(py),
      'a normal link',
      10_000,
    );
    expect(n.transport.peerInfo(py)?.direction).toBe('in');
  });

  it('once the node knows us, the read-only link gives way to our address (probe)', async () => {
    const x = await freeAddress();
    const y = await freeAddress();
    const [ts, py] = x > y ? [x, y] : [y, x];
    const node = python(TRANSPORT_HARNESS, { self: py, peers: [], password: null, timeout: 3.5 });
    await node.waitFor((e) => e.ev === 'ready', 'Python bound');
    const n = await nodes.start(ts, [py], { readonlyProbeMs: 300 });
    await until(() => n.transport.isReadonlyLink(py), 'the read-only link', 10_000);
    // the node learns us (it applied the entry that adds us) while the read-only link stays up
    await node.addNode(ts);
    await node.waitFor(
      (e) => e.ev === 'connected' && e.peer === ts,
      'Python takes us for the node we are',
      10_000,
    );
    await until(
      () => n.transport.isConnected(py) && !n.transport.isReadonlyLink(py),
      'a normal link',
      10_000,
    );
    expect(n.transport.send(py, sample[0]!)).toBe(true);
    await node.waitFor(
      (e) => e.ev === 'message' && e.peer === ts && typeOf(fromTypedJson(e.msg!)) === 'request_vote',
      'a vote request over the normal link',
    );
  });

  it('a raftdcs peer never gets the read-only hello: it accepts our address', async () => {
    const x = await freeAddress();
    const y = await freeAddress();
    const [hi, lo] = x > y ? [x, y] : [y, x];
    const a = await nodes.start(lo, [], {}); // does not know hi: takes it as a stranger, no refusal
    const b = await nodes.start(hi, [lo], {});
    await b.rec.connected(lo, 10_000);
    await a.rec.connected(hi, 10_000);
    await delay(500);
    expect(b.transport.isReadonlyLink(lo)).toBe(false);
    expect(a.rec.count('connected')).toBe(1);
    expect(a.rec.events.filter((e) => e.kind === 'connected')).toMatchObject([{ peer: hi, readonly: false }]);
  });

  it.each([
    ['with pings', true],
    ['control: pings disabled (pysyncobj drops the idle connection and the message)', false],
  ])('an idle connection to pysyncobj %s', async (_name, pings) => {
    const x = await freeAddress();
    const y = await freeAddress();
    const [ts, py] = x > y ? [x, y] : [y, x]; // TS connects
    const py1 = python(TRANSPORT_HARNESS, { self: py, peers: [ts], timeout: 1.0 });
    await py1.waitFor((e) => e.ev === 'ready', 'Python bound');
    const n = await nodes.start(ts, [py], {
      connectionTimeoutMs: 1000,
      connectionRetryTimeMs: 10_000, // no quick reconnect to hide a drop
      ...(pings ? {} : { keepalivePingIntervalMs: 0 }),
    });
    await py1.waitFor((e) => e.ev === 'connected', 'Python connected');
    await n.rec.connected(py);
    await delay(1600); // > Python's connectionTimeout of 1.0 s without any Raft message
    const vote = dict({ type: 'request_vote', term: 5, last_log_index: 1, last_log_term: 0 });
    expect(n.transport.send(py, vote)).toBe(true);
    if (pings) {
      await py1.waitFor(
        (e) => e.ev === 'message' && typeOf(fromTypedJson(e.msg!)) === 'request_vote',
        'the vote',
      );
      await delay(200);
      expect(py1.events.some((e) => e.ev === 'disconnected')).toBe(false);
      expect(n.rec.count('disconnected')).toBe(0);
    } else {
      await py1.waitFor((e) => e.ev === 'disconnected', 'Python drops the idle connection');
      await n.rec.disconnected(py);
      expect(py1.messages().some((m) => typeOf(m) === 'request_vote')).toBe(false);
    }
  });

  it.each([
    ['plain, TS connects', null, true],
    ['encrypted, Python connects', PASSWORD, false],
  ])(
    'a real SyncObj (%s) is elected with our vote, ignores our pings, answers our status',
    async (_n, password, tsConnects) => {
      const x = await freeAddress();
      const y = await freeAddress();
      const [ts, py] = x > y === tsConnects ? [x, y] : [y, x];
      const pyNode = python(SYNCOBJ_HARNESS, { self: py, peers: [ts], password, timeout: 1.0 });
      await pyNode.waitFor((e) => e.ev === 'started', 'SyncObj started');
      const n = nodes.make(ts, { password, connectionTimeoutMs: 1000 });
      n.rec.utility = () => {};
      const votes: number[] = [];
      n.transport.addNode(py);
      // vote for every candidate: the Python node becomes leader
      const origOnMessage = n.rec.onMessage.bind(n.rec);
      n.rec.onMessage = (peer, message) => {
        origOnMessage(peer, message);
        if (typeOf(message) === 'request_vote') {
          const term = (message as PyDict).get('term') as number;
          votes.push(term);
          n.transport.send(peer, dict({ type: 'response_vote', term }));
        }
      };
      await n.transport.start();
      await n.rec.connected(py, 10_000);
      const entries = (await n.rec.message(py, (m) => typeOf(m) === 'append_entries', 10_000)) as PyDict;
      expect(votes).toContain(entries.get('term'));

      const util = new TcpUtility({ password, timeoutMs: 5000 });
      const status = (await util.execute(py, ['status'])) as PyDict;
      expect(status.get('version')).toBe('0.3.11');
      expect(status.get('state')).toBe(2); // leader
      expect(status.get(`partner_node_status_server_${ts}`)).toBe(2);
      expectPy(status.get('self'), tcpNode(py));

      // we send nothing but pings for > connectionTimeout, then a real message: nothing is dropped
      await delay(1300);
      expect(
        n.transport.send(py, dict({ type: 'next_node_idx', next_node_idx: 2, reset: false, success: true })),
      ).toBe(true);
      await delay(300);
      expect(n.rec.count('disconnected')).toBe(0);
      const after = (await util.execute(py, ['status'])) as PyDict;
      expect(after.get('state')).toBe(2);
      expect(after.get(`partner_node_status_server_${ts}`)).toBe(2);
      expect(after.get(`match_idx_server_${ts}`)).toBe(1); // our next_node_idx was applied
    },
  );

  it.each([
    ['plain', null],
    ['with -pass', PASSWORD],
  ])("Debian's syncobj_admin against our utility server (%s)", async (_n, password) => {
    const self = await freeAddress();
    const partner = '127.0.0.1:1';
    const n = await nodes.start(self, [partner], { password, connectionRetryTimeMs: 60_000 });
    n.rec.utility = (command, args, reply) => {
      if (command === 'status') {
        reply(
          dict([
            ['version', '0.3.11'],
            ['revision', 'deprecated'],
            ['self', tcpNode(self)],
            ['state', 0],
            ['leader', null],
            ['has_quorum', false],
            ['partner_nodes_count', 1],
            [`partner_node_status_server_${partner}`, 0],
            ['readonly_nodes_count', 0],
            ['log_len', 1],
            ['last_applied', 1],
            ['commit_idx', 1],
            ['raft_term', 0],
            ['next_node_idx_count', 0],
            ['match_idx_count', 0],
            ['leader_commit_idx', null],
            ['uptime', 3],
            ['self_code_version', 0],
            ['enabled_code_version', 0],
          ]),
        );
      } else {
        reply(formatUtilityResult(command, args, null, 0));
      }
    };
    const pass = password ? ['-pass', password] : [];
    const run = async (...args: string[]): Promise<string> => {
      const r = await within(
        execFileP('/usr/bin/syncobj_admin', ['-conn', self, ...pass, ...args], { timeout: 20_000 }),
        25_000,
        'syncobj_admin',
      );
      return r.stdout;
    };
    const out = await run('-status');
    const lines = out.trim().split('\n');
    expect(lines).toContain('version: 0.3.11');
    expect(lines).toContain(`self: ${self}`);
    expect(lines).toContain('has_quorum: False');
    expect(lines).toContain('leader: None');
    expect(lines).toContain(`partner_node_status_server_${partner}: 0`);
    expect(lines.length).toBe(19);
    expect((await run('-add', '127.0.0.1:21004')).trim()).toBe('SUCCESS ADD 127.0.0.1:21004');
    expect((await run('-set_version', '2')).trim()).toBe('SUCCESS SET_VERSION 2');
  });
});
