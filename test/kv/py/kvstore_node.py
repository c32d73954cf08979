#!/usr/bin/python3
"""
One real Patroni KVStoreTTL node (Debian patroni 3.0.2, patroni.dcs.raft.KVStoreTTL, over
pysyncobj 0.3.11) for the mixed-cluster test (test/kv/mixed-cluster.test.ts), driven by JSON
lines on stdin and answering with JSON lines on stdout. Run it with /usr/bin/python3:

    kvstore_node.py --self 127.0.0.1:7101 --partners '["127.0.0.1:7102"]' --data-dir DIR

The node is built as Patroni's Raft DCS builds it (commandsWaitLeader=False, retry_timeout 10,
data_dir for journal and dump files) and ticks in its own thread (startAutoTick). The only change
is pysyncobj's connectionRetryTime (5 s → 0.3 s) so reconnections in the test take less time;
everything KVStoreTTL does is Patroni's own code.

Requests, each with an "id" that the reply echoes; each runs in its own thread, as Patroni's HA
loop calls set/delete while the tick thread runs:

    {"id": 1, "cmd": "set", "key": k, "value": v, "ttl": 30, "kw": {"prevValue": "x"}, "timeout": 5}
                                              -> {"result": <what set() returned>}
    {"id": 2, "cmd": "delete", "key": k, "recursive": false, "kw": {...}, "timeout": 5}
    {"id": 3, "cmd": "get", "key": k}         -> {"record": {...} | null}
    {"id": 4, "cmd": "prefix", "key": p}      -> {"records": [[key, record], ...]} in map order
    {"id": 5, "cmd": "status"}                -> {"leader", "isLeader", "applied", "commit", "term", "ready"}
    {"id": 6, "cmd": "events"}                -> {"events": [["set", key, record] | ["delete", key], ...]}
    {"id": 7, "cmd": "quit"}

Floats are written with repr (json), so the doubles read back on the other side are exactly
Python's. Unsolicited: {"event": "started"} once the node is constructed.
"""
import argparse
import json
import logging
import sys
import threading
import time

import patroni.dcs.raft as raft

out_lock = threading.Lock()
events = []
events_lock = threading.Lock()


def emit(obj):
    line = json.dumps(obj)
    with out_lock:
        sys.stdout.write(line + '\n')
        sys.stdout.flush()


_SyncObjConf = raft.SyncObjConf


def fast_reconnect_conf(**kwargs):
    conf = _SyncObjConf(**kwargs)
    conf.connectionRetryTime = 0.3
    return conf


raft.SyncObjConf = fast_reconnect_conf


def on_set(key, value):
    with events_lock:
        events.append(['set', key, dict(value)])


def on_delete(key):
    with events_lock:
        events.append(['delete', key])


def handle(node, req):
    cmd = req['cmd']
    if cmd == 'set':
        result = node.set(req['key'], req['value'], ttl=req.get('ttl'), timeout=req.get('timeout'),
                          **req.get('kw', {}))
        return {'result': result}
    if cmd == 'delete':
        result = node.delete(req['key'], recursive=req.get('recursive', False), timeout=req.get('timeout'),
                             **req.get('kw', {}))
        return {'result': result}
    if cmd == 'get':
        return {'record': node.get(req['key'])}
    if cmd == 'prefix':
        return {'records': [[k, v] for k, v in node.get(req['key'], recursive=True).items()]}
    if cmd == 'status':
        leader = node._getLeader()
        return {
            'leader': None if leader is None else leader.id,
            'isLeader': node._isLeader(),
            'applied': node.raftLastApplied,
            'commit': node.raftCommitIndex,
            'term': node.raftCurrentTerm,
            'ready': node.isReady(),
            'tickThreadAlive': node._KVStoreTTL__thread is not None and node._KVStoreTTL__thread.is_alive(),
        }
    if cmd == 'events':
        with events_lock:
            return {'events': list(events)}
    raise ValueError('unknown command %r' % cmd)


def serve(node, req):
    try:
        reply = handle(node, req)
    except Exception as e:  # reported to the test, which fails with it
        logging.exception('request %r failed', req)
        reply = {'error': '%s: %s' % (type(e).__name__, e)}
    reply['id'] = req.get('id')
    emit(reply)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--self', required=True)
    p.add_argument('--partners', required=True)
    p.add_argument('--data-dir', required=True)
    args = p.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format='%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s')
    node = raft.KVStoreTTL(None, on_set, on_delete, self_addr=args.self,
                           partner_addrs=json.loads(args.partners), retry_timeout=10,
                           data_dir=args.data_dir, commandsWaitLeader=False)
    node.startAutoTick()
    emit({'event': 'started', 'time': time.time()})
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        if req.get('cmd') == 'quit':
            break
        threading.Thread(target=serve, args=(node, req), daemon=True).start()
    node.destroy()


if __name__ == '__main__':
    main()
