#!/usr/bin/python3
"""
Interop test harness: one real pysyncobj node (Debian python3-pysyncobj 0.3.11), driven by JSON
lines on stdin and answering with JSON lines on stdout. Run it with /usr/bin/python3.

The replicated object is the same as the TypeScript side's (test/interop/ts-object.ts):

    incr(n)    counter += n                 -> the new counter value
    put(k, v)  d[k] = v                     -> the previous value of k (None when absent)
    rm(k)      remove k if present          -> the removed value (None when absent)

Every apply is recorded as [index, term, op, *args] so tests can compare the applied sequence of
every node. Function ids follow from the aliases incr_v0, put_v0, rm_v0 (0, 1, 2). The state
(attributes counter, d, records) travels in pysyncobj's dumps, so a node that installs a snapshot
holds the same records as the others.

Requests (one JSON object per line, each with an "id" that the reply echoes):

    {"id": 1, "cmd": "status"}
    {"id": 2, "cmd": "incr", "n": 3, "timeout": 10}        reply {"result", "err", "errName"}
    {"id": 3, "cmd": "put", "k": "a", "v": "x"}            (same reply shape)
    {"id": 4, "cmd": "rm", "k": "a"}
    {"id": 5, "cmd": "applied"}                            reply {"applied": [[idx, term, op, ...]]}
    {"id": 6, "cmd": "wait", "cond": {...}, "timeout": 5}  reply {"ok", "status"} once cond holds
    {"id": 7, "cmd": "add", "addr": "127.0.0.1:1234"}      addNodeToCluster, reply {"err", "errName"}
    {"id": 8, "cmd": "remove", "addr": "127.0.0.1:1234"}   removeNodeFromCluster
    {"id": 9, "cmd": "compact"}                            forceLogCompaction (a dump at the next tick)
    {"id": 10, "cmd": "quit"}

Wait conditions (all given ones must hold): leader (address or null), isLeader, hasLeader,
minApplied, minCommit, minTerm, value, appliedOps (count of recorded applies >= n),
otherNodes (sorted list equals), connected (these addresses are connected), readonlyNodes (count),
maxLogLen (entries held in the log, e.g. 2 after a dump).

All requests are executed inside the node's tick thread (an on-tick callback), so they see a
consistent state and never race the Raft engine. Unsolicited lines: {"event": "started"} once the
node is constructed (and bound, for a voting node), {"event": "tick_thread_died"} if pysyncobj's
tick thread stops (its exception is on stderr). EOF on stdin stops the node and the process.
"""
import argparse
import json
import logging
import os
import queue
import sys
import threading
import time

from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, replicated

FAIL_NAMES = {v: k for k, v in vars(FAIL_REASON).items() if k.isupper()}

out_lock = threading.Lock()
stopping = threading.Event()


def emit(obj):
    line = json.dumps(obj, sort_keys=True)
    with out_lock:
        sys.stdout.write(line + '\n')
        sys.stdout.flush()


def node_id(node):
    return None if node is None else node.id


class InteropNode(SyncObj):
    def __init__(self, self_addr, partners, conf):
        # harness internals: set before SyncObj.__init__ (the tick thread starts inside it), so that
        # pysyncobj leaves them out of its dumps
        self.requests = queue.Queue()
        self.pending = {}  # request id -> deadline (monotonic) for proposals in flight
        self.waits = []  # (request id, cond, deadline)
        super(InteropNode, self).__init__(self_addr, partners, conf)
        # the replicated state: created after SyncObj.__init__, so that pysyncobj's dumps carry it
        # (the attributes counter, d, records; the TS twin dumps and loads the same ones). A tick may
        # apply an entry before this line runs: the methods create them on first use too.
        self._state()
        self.addOnTickCallback(self._on_tick)

    # -- the replicated object -----------------------------------------------------------------

    def _state(self):
        st = self.__dict__
        return st.setdefault('counter', 0), st.setdefault('d', {}), st.setdefault('records', [])

    def _record(self, op, *args):
        idx = self.raftLastApplied + 1  # pysyncobj increments lastApplied after the apply
        entry = self._SyncObj__getEntries(idx, 1)
        term = entry[0][2] if entry else None
        self._state()[2].append([idx, term, op] + list(args))

    @replicated
    def incr(self, n):
        self.__dict__['counter'] = self._state()[0] + n
        self._record('incr', n)
        return self.__dict__['counter']

    @replicated
    def put(self, k, v):
        d = self._state()[1]
        prev = d.get(k)
        d[k] = v
        self._record('put', k, v)
        return prev

    @replicated
    def rm(self, k):
        prev = self._state()[1].pop(k, None)
        self._record('rm', k)
        return prev

    # -- state ------------------------------------------------------------------------------------

    def connected_nodes(self):
        return sorted(n.id for n in self.otherNodes if self.isNodeConnected(n))

    def status(self):
        counter, d, records = self._state()
        return {
            'self': node_id(self.selfNode),
            'term': self.raftCurrentTerm,
            'state': self._SyncObj__raftState,
            'leader': node_id(self._getLeader()),
            'isLeader': self._isLeader(),
            'commit': self.raftCommitIndex,
            'applied': self.raftLastApplied,
            'value': counter,
            'dict': d,
            'appliedOps': len(records),
            'otherNodes': sorted(n.id for n in self.otherNodes),
            'readonlyNodes': len(self.readonlyNodes),
            'connected': self.connected_nodes(),
            'hasQuorum': self.hasQuorum,
            'logLen': self._getRaftLogSize(),
            'ready': self.isReady(),
        }

    def holds(self, cond):
        st = self.status()
        for key, want in cond.items():
            if key == 'leader':
                ok = st['leader'] == want
            elif key == 'isLeader':
                ok = st['isLeader'] == want
            elif key == 'hasLeader':
                ok = (st['leader'] is not None) == want
            elif key == 'minApplied':
                ok = st['applied'] >= want
            elif key == 'minCommit':
                ok = st['commit'] >= want
            elif key == 'minTerm':
                ok = st['term'] >= want
            elif key == 'value':
                ok = st['value'] == want
            elif key == 'appliedOps':
                ok = st['appliedOps'] >= want
            elif key == 'otherNodes':
                ok = st['otherNodes'] == sorted(want)
            elif key == 'connected':
                ok = all(a in st['connected'] for a in want)
            elif key == 'readonlyNodes':
                ok = st['readonlyNodes'] == want
            elif key == 'maxLogLen':
                ok = st['logLen'] <= want
            else:
                raise ValueError('unknown wait condition %r' % key)
            if not ok:
                return False, st
        return True, st

    # -- requests, executed in the tick thread -----------------------------------------------------

    def _on_tick(self):
        now = time.monotonic()
        while True:
            try:
                req = self.requests.get_nowait()
            except queue.Empty:
                break
            try:
                self._handle(req, now)
            except Exception as e:  # a harness bug or a bad request: answer, keep ticking
                logging.exception('request %r failed', req)
                emit({'id': req.get('id'), 'ok': False, 'error': 'exception: %s' % e})
        for rid, deadline in list(self.pending.items()):
            if now > deadline:
                del self.pending[rid]
                emit({'id': rid, 'ok': False, 'error': 'timeout', 'status': self.status()})
        still = []
        for rid, cond, deadline in self.waits:
            ok, st = self.holds(cond)
            if ok:
                emit({'id': rid, 'ok': True, 'status': st})
            elif now > deadline:
                emit({'id': rid, 'ok': False, 'error': 'timeout', 'status': st})
            else:
                still.append((rid, cond, deadline))
        self.waits = still

    def _callback_for(self, rid):
        def cb(result, err):
            if self.pending.pop(rid, None) is None:
                return  # already timed out
            emit({'id': rid, 'ok': True, 'result': result, 'err': err, 'errName': FAIL_NAMES.get(err, str(err))})
        return cb

    def _handle(self, req, now):
        rid = req['id']
        cmd = req['cmd']
        logging.debug('request %r', req)
        if cmd == 'status':
            emit({'id': rid, 'ok': True, 'status': self.status()})
        elif cmd == 'applied':
            emit({'id': rid, 'ok': True, 'applied': self._state()[2]})
        elif cmd == 'compact':
            self.forceLogCompaction()
            emit({'id': rid, 'ok': True})
        elif cmd in ('incr', 'put', 'rm', 'add', 'remove'):
            self.pending[rid] = now + float(req.get('timeout', 10))
            cb = self._callback_for(rid)
            if cmd == 'incr':
                self.incr(req['n'], callback=cb)
            elif cmd == 'put':
                self.put(req['k'], req['v'], callback=cb)
            elif cmd == 'rm':
                self.rm(req['k'], callback=cb)
            elif cmd == 'add':
                self.addNodeToCluster(req['addr'], callback=cb)
            else:
                self.removeNodeFromCluster(req['addr'], callback=cb)
        elif cmd == 'wait':
            ok, st = self.holds(req['cond'])
            if ok:
                emit({'id': rid, 'ok': True, 'status': st})
            else:
                self.waits.append((rid, req['cond'], now + float(req.get('timeout', 10))))
        elif cmd == 'quit':
            emit({'id': rid, 'ok': True})
            stop(self)
        else:
            emit({'id': rid, 'ok': False, 'error': 'unknown command %r' % cmd})


def stop(node):
    stopping.set()
    node.destroy()
    time.sleep(0.2)  # let the tick thread close the sockets
    logging.info('harness exiting')
    sys.stderr.flush()
    os._exit(0)


def main():
    p = argparse.ArgumentParser(description='pysyncobj interop node')
    p.add_argument('--self', dest='self_addr', default=None, help="host:port, or omit for a read-only node")
    p.add_argument('--partners', default='', help='comma-separated host:port list')
    p.add_argument('--bind', default=None, help='bindAddress (default 127.0.0.1:<self port>)')
    p.add_argument('--password', default=None)
    p.add_argument('--append-entries-period', type=float, default=0.05)
    p.add_argument('--raft-min-timeout', type=float, default=0.3)
    p.add_argument('--raft-max-timeout', type=float, default=0.6)
    p.add_argument('--connection-timeout', type=float, default=1.5)
    p.add_argument('--connection-retry-time', type=float, default=0.5)
    p.add_argument('--leader-fallback-timeout', type=float, default=30.0)
    p.add_argument('--auto-tick-period', type=float, default=0.02)
    p.add_argument('--dynamic', action='store_true', help='dynamicMembershipChange')
    p.add_argument('--use-batch', choices=('0', '1'), default='1', help='appendEntriesUseBatch')
    p.add_argument('--wait-leader', choices=('0', '1'), default='1', help='commandsWaitLeader')
    p.add_argument('--log-level', default='INFO')
    a = p.parse_args()

    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, a.log_level.upper()),
        format='%(asctime)s.%(msecs)03d py[' + (a.self_addr or 'readonly') + '] %(levelname)s %(message)s',
        datefmt='%H:%M:%S',
    )
    partners = [x for x in a.partners.split(',') if x]
    bind = a.bind
    if bind is None and a.self_addr is not None:
        bind = '127.0.0.1:' + a.self_addr.rsplit(':', 1)[1]

    def on_state(old, new):
        logging.info('state %s -> %s', old, new)

    conf = SyncObjConf(
        password=a.password,
        appendEntriesPeriod=a.append_entries_period,
        raftMinTimeout=a.raft_min_timeout,
        raftMaxTimeout=a.raft_max_timeout,
        connectionTimeout=a.connection_timeout,
        connectionRetryTime=a.connection_retry_time,
        leaderFallbackTimeout=a.leader_fallback_timeout,
        autoTickPeriod=a.auto_tick_period,
        dynamicMembershipChange=a.dynamic,
        appendEntriesUseBatch=a.use_batch == '1',
        commandsWaitLeader=a.wait_leader == '1',
        bindAddress=bind,
        maxBindRetries=20,
        bindRetryTime=0.25,
        onStateChanged=on_state,
    )
    logging.info('starting: self=%s partners=%s dynamic=%s useBatch=%s waitLeader=%s password=%s',
                 a.self_addr, partners, a.dynamic, a.use_batch, a.wait_leader, a.password is not None)
    node = InteropNode(a.self_addr, partners, conf)
    if a.self_addr is not None:
        node.waitBinded()
    emit({'event': 'started', 'pid': os.getpid()})

    tick_thread = node._SyncObj__thread

    def watchdog():
        while True:
            time.sleep(0.1)
            if stopping.is_set():
                return
            if tick_thread is not None and not tick_thread.is_alive():
                logging.error('pysyncobj tick thread died')
                emit({'event': 'tick_thread_died'})
                return

    threading.Thread(target=watchdog, daemon=True).start()

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
        except ValueError as e:
            emit({'id': None, 'ok': False, 'error': 'bad json: %s' % e})
            continue
        node.requests.put(req)
    logging.info('stdin closed')
    stop(node)


if __name__ == '__main__':
    main()
