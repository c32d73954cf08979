"""Drive Debian Patroni 3.0.2's Raft DCS (patroni.dcs.raft.Raft) over stdin/stdout JSON lines.

Used by test/dcs/differential.test.ts: the first line is the DCS configuration; every further
line is {"id": n, "op": name, "args": [...]} and gets one answer line
{"id": n, "result": ..., "kv": {...}} (or {"id": n, "error": "..."}). The wall clock Patroni reads
(time.time() in patroni.dcs and patroni.dcs.raft) is the real clock plus an offset the test
advances ("advance"), so TTL expiry can be triggered without waiting. pysyncobj's own timers are
monotonic and unaffected. Logs go to stderr; stdout carries only answer lines.
"""
import datetime
import json
import logging
import sys
import time as _time

logging.basicConfig(stream=sys.stderr, level=logging.INFO, format='py %(levelname)s %(name)s: %(message)s')


class Clock(object):
    offset = 0.0

    def time(self):
        return _time.time() + self.offset

    def __getattr__(self, name):
        return getattr(_time, name)


clock = Clock()

import patroni.dcs as dcs_module  # noqa: E402
import patroni.dcs.raft as raft_module  # noqa: E402

dcs_module.time = clock
raft_module.time = clock


def send(obj):
    sys.stdout.write(json.dumps(obj, separators=(',', ':')) + '\n')
    sys.stdout.flush()


def iso(dt):
    return dt.isoformat() if isinstance(dt, datetime.datetime) else dt


def cluster_json(c):
    if c is None:
        return None
    return {
        'initialize': c.initialize,
        'config': None if c.config is None else {'version': c.config.index, 'modify_version': c.config.modify_index,
                                'data': c.config.data},
        'leader': None if c.leader is None else {'version': c.leader.index, 'name': c.leader.name,
                                'member_version': c.leader.member.index},
        'last_lsn': c.last_lsn,
        'slots': c.slots,
        'members': [{'name': m.name, 'version': m.index, 'data': m.data} for m in c.members],
        # (a Failover namedtuple is falsy without leader and candidate: test for None)
        'failover': None if c.failover is None else {'version': c.failover.index, 'leader': c.failover.leader,
                                    'candidate': c.failover.candidate,
                                    'scheduled_at': iso(c.failover.scheduled_at)},
        'sync': {'version': c.sync.index, 'leader': c.sync.leader, 'sync_standby': c.sync.sync_standby},
        'history': None if c.history is None else {'version': c.history.index, 'value': c.history.value, 'lines': c.history.lines},
        'failsafe': c.failsafe,
        'timeline': c.timeline,
        'unlocked': c.is_unlocked(),
        'min_version': list(c.min_version) if c.min_version else None,
        'workers': {str(g): cluster_json(w) for g, w in c.workers.items()},
    }


def kv_state(dcs):
    return {k: v for k, v in dcs._sync_obj.get('/', recursive=True).items()}


def main():
    config = json.loads(sys.stdin.readline())
    dcs = raft_module.Raft(config)
    send({'ready': True})
    last_cluster = None
    for line in sys.stdin:
        cmd = json.loads(line)
        op, args = cmd['op'], cmd.get('args', [])
        try:
            if op == 'get_cluster':
                last_cluster = dcs.get_cluster()
                result = cluster_json(last_cluster)
            elif op == 'get_citus_coordinator':
                result = cluster_json(dcs.get_citus_coordinator())
            elif op == 'is_citus_coordinator':
                result = dcs.is_citus_coordinator()
            elif op == 'manual_failover':
                leader, candidate, scheduled_at, index = args
                when = scheduled_at and datetime.datetime.fromisoformat(scheduled_at)
                result = dcs.manual_failover(leader, candidate, when, index)
            elif op == 'write_sync_state':
                leader, sync_standby, index = args
                result = dcs.write_sync_state(leader, sync_standby, index)
            elif op == 'raw_set':
                key, value, ttl, kwargs = args
                ret = dcs._sync_obj.set(key, value, ttl, **kwargs)
                result = ret if isinstance(ret, bool) else bool(ret)
            elif op == 'raw_delete':
                key, kwargs = args
                result = dcs._sync_obj.delete(key, **kwargs)
            elif op == 'advance':
                clock.offset += args[0]
                result = clock.offset
            elif op == 'wait_gone':
                deadline = _time.time() + 10
                while any(dcs._sync_obj.get(k) is not None for k in args[0]) and _time.time() < deadline:
                    _time.sleep(0.02)
                result = [k for k in args[0] if dcs._sync_obj.get(k) is not None]
            elif op == 'cluster_cached':
                result = dcs.cluster is not None
            elif op == 'last_seen':
                result = dcs.last_seen
            elif op == 'reload_config':
                result = dcs.reload_config(args[0])
            elif op == 'kv':
                result = None
            elif op == 'raft_state':
                so = dcs._sync_obj
                result = {'leader': so._isLeader(), 'commit': so.raftCommitIndex, 'applied': so.raftLastApplied}
            else:
                result = getattr(dcs, op)(*args)
            send({'id': cmd['id'], 'result': result, 'kv': kv_state(dcs)})
        except Exception as e:  # reported, the test decides
            logging.exception('op %s failed', op)
            send({'id': cmd['id'], 'error': '%s: %s' % (type(e).__name__, e), 'kv': kv_state(dcs)})
    dcs._sync_obj.destroy()


if __name__ == '__main__':
    main()
