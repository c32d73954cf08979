#!/usr/bin/python3
"""
A Patroni Raft DCS client for tests: Patroni 3.0.2's own KVStoreTTL (patroni.dcs.raft, on Debian's
pysyncobj 0.3.11) as a read-only node on the given partners, configured as Patroni's Raft DCS
configures it (commandsWaitLeader=False, autoTick thread started by startAutoTick). Run it with
/usr/bin/python3; it is driven by JSON lines on stdin and answers with JSON lines on stdout.

    {"id": 1, "cmd": "set", "k": "/a", "v": "x", "timeout": 1}   reply {"result": true|false, "ms": …}
    {"id": 2, "cmd": "get", "k": "/a"}                          reply {"value": "x" | null}
    {"id": 3, "cmd": "quit"}

`set` is Patroni's KVStoreTTL.set: its retry loop, `timeout` seconds (an int, as Patroni's
retry_timeout); false when the write failed or timed out. Unsolicited: {"event": "ready"} once the
client knows a leader and applied the log (Patroni's on_ready). EOF on stdin stops the process.
"""
import argparse
import json
import logging
import os
import sys
import threading
import time

from patroni.dcs.raft import KVStoreTTL


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + '\n')
    sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description='Patroni KVStoreTTL test client (read-only node)')
    p.add_argument('--partners', required=True, help='comma-separated host:port list')
    p.add_argument('--retry-timeout', type=int, default=10)
    p.add_argument('--log-level', default='INFO')
    a = p.parse_args()
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, a.log_level.upper()),
        format='%(asctime)s.%(msecs)03d py[patroni-client] %(levelname)s %(message)s',
        datefmt='%H:%M:%S',
    )
    ready = threading.Event()
    kv = KVStoreTTL(ready.set, None, None, self_addr=None, partner_addrs=a.partners.split(','),
                    retry_timeout=a.retry_timeout, commandsWaitLeader=False)
    kv.startAutoTick()

    def announce():
        ready.wait()
        emit({'event': 'ready'})

    threading.Thread(target=announce, daemon=True).start()

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        rid, cmd = req.get('id'), req.get('cmd')
        if cmd == 'set':
            t0 = time.monotonic()
            result = kv.set(req['k'], req['v'], timeout=req.get('timeout'))
            emit({'id': rid, 'result': bool(result), 'ms': round((time.monotonic() - t0) * 1000)})
        elif cmd == 'get':
            value = kv.get(req['k'])
            emit({'id': rid, 'value': None if value is None else value.get('value')})
        elif cmd == 'quit':
            emit({'id': rid, 'ok': True})
            break
        else:
            emit({'id': rid, 'error': 'unknown command %r' % cmd})
    sys.stdout.flush()
    os._exit(0)


if __name__ == '__main__':
    main()
