"""Drive Patroni's Raft DCS (patroni.dcs.raft.Raft) over stdin/stdout JSON lines.

Used by test/dcs/differential.test.ts: the first line is the DCS configuration; the driver answers
{"ready": true, "patroni": "<version>", "pysyncobj": "<version>"}; every further line is
{"id": n, "op": name, "args": [...]} and gets one answer line {"id": n, "result": ..., "kv": {...}}
(or {"id": n, "error": "..."}).

Patroni 3.0.2 (Debian 12) and 4.x (from its sources on PYTHONPATH) are both driven; the ops and
the printed Cluster keep one shape, whichever version answers. 4.x builds Raft(config, mpp)
(the MPP object from get_mpp, a "citus" section for the configuration's "group"), takes the
cluster in update_leader and the leader in delete_leader (the last get_cluster's, as the HA loop
passes them), takes quorum in write_sync_state (the optional fourth argument; 3.0.2 ignores it)
and returns a SyncState or None from it, renames index to version and the citus methods to mpp,
and keeps the status in Cluster.status (with retain_slots). As Patroni's HA loop does, 4.x updates
its global configuration from every cluster loaded. The wall clock Patroni reads
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
from patroni.version import __version__ as PATRONI_VERSION  # noqa: E402
from pysyncobj.version import VERSION as PYSYNCOBJ_VERSION  # noqa: E402

dcs_module.time = clock
raft_module.time = clock

FOUR_X = int(PATRONI_VERSION.split('.')[0]) >= 4


def send(obj):
    sys.stdout.write(json.dumps(obj, separators=(',', ':')) + '\n')
    sys.stdout.flush()


def iso(dt):
    return dt.isoformat() if isinstance(dt, datetime.datetime) else dt


def cluster_json(c):
    return cluster_json_4x(c) if FOUR_X else cluster_json_3x(c)


def cluster_json_3x(c):
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


def sync_json_4x(s):
    return {'version': s.version, 'leader': s.leader, 'sync_standby': s.sync_standby, 'quorum': s.quorum}


def cluster_json_4x(c):
    if c is None:
        return None
    return {
        'initialize': c.initialize,
        'config': None if c.config is None else {'version': c.config.version,
                                'modify_version': c.config.modify_version, 'data': c.config.data},
        'leader': None if c.leader is None else {'version': c.leader.version, 'name': c.leader.name,
                                'member_version': c.leader.member.version},
        'last_lsn': c.status.last_lsn,
        # the raw status slots (Cluster.slots parses each value with parse_int)
        'slots': c.status.slots,
        'retain_slots': c.status.retain_slots,
        'members': [{'name': m.name, 'version': m.version, 'data': m.data} for m in c.members],
        'failover': None if c.failover is None else {'version': c.failover.version, 'leader': c.failover.leader,
                                    'candidate': c.failover.candidate,
                                    'scheduled_at': iso(c.failover.scheduled_at)},
        'sync': sync_json_4x(c.sync),
        'history': None if c.history is None else {'version': c.history.version, 'value': c.history.value,
                                  'lines': c.history.lines},
        'failsafe': c.failsafe,
        'timeline': c.timeline,
        'unlocked': c.is_unlocked(),
        'min_version': list(c.min_version) if c.min_version else None,
        'workers': {str(g): cluster_json(w) for g, w in c.workers.items()},
    }


def make_dcs(config):
    """The DCS and the function that loads a cluster as the HA loop does."""
    if not FOUR_X:
        dcs = raft_module.Raft(config)
        return dcs, dcs.get_cluster
    from patroni import global_config
    from patroni.postgresql.mpp import get_mpp
    group = config.pop('group', None)
    mpp = get_mpp({} if group is None else {'citus': {'group': group, 'database': 'citus'}})
    dcs = raft_module.Raft(config, mpp)

    def get_cluster():
        cluster = dcs.get_cluster()
        global_config.update(cluster)
        return cluster
    return dcs, get_cluster


def kv_state(dcs):
    return {k: v for k, v in dcs._sync_obj.get('/', recursive=True).items()}


def main():
    config = json.loads(sys.stdin.readline())
    dcs, load_cluster = make_dcs(config)
    send({'ready': True, 'patroni': PATRONI_VERSION, 'pysyncobj': PYSYNCOBJ_VERSION})
    last_cluster = None

    def cluster():  # what the HA loop passes to update_leader: the cluster it loaded last
        return last_cluster if last_cluster is not None else load_cluster()

    for line in sys.stdin:
        cmd = json.loads(line)
        op, args = cmd['op'], cmd.get('args', [])
        try:
            if op == 'get_cluster':
                last_cluster = load_cluster()
                result = cluster_json(last_cluster)
            elif op == 'get_citus_coordinator':
                result = cluster_json(dcs.get_mpp_coordinator() if FOUR_X else dcs.get_citus_coordinator())
            elif op == 'is_citus_coordinator':
                result = dcs.is_mpp_coordinator() if FOUR_X else dcs.is_citus_coordinator()
            elif op == 'manual_failover':
                leader, candidate, scheduled_at, index = args
                when = scheduled_at and datetime.datetime.fromisoformat(scheduled_at)
                result = dcs.manual_failover(leader, candidate, when, index)
            elif op == 'write_sync_state':
                leader, sync_standby, index = args[:3]
                if FOUR_X:
                    quorum = args[3] if len(args) > 3 else None
                    state = dcs.write_sync_state(leader, sync_standby, quorum, index)
                    result = None if state is None else sync_json_4x(state)
                else:
                    result = dcs.write_sync_state(leader, sync_standby, index)
            elif op == 'update_leader' and FOUR_X:
                result = dcs.update_leader(cluster(), *args)
            elif op == 'delete_leader' and FOUR_X:
                result = dcs.delete_leader(cluster().leader, *args)
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
