#!/usr/bin/python3
"""Patroni 3.0.2's Raft DCS getCluster on a Citus coordinator, for raftdcs's DCS benchmark.

Builds the same keys as bench/dcs.ts (groups x members, plus leader/config/status/sync/history/
failover/initialize per group) in a stand-in for the KVStoreTTL (Patroni's Raft DCS only calls its
get(path, recursive=True)), then times Raft.get_cluster() for `seconds`. Prints one JSON line.
"""
import json
import sys
import time

from patroni.dcs import AbstractDCS
from patroni.dcs.raft import Raft

groups = int(sys.argv[1])
members = int(sys.argv[2])
seconds = float(sys.argv[3])
data = json.loads(sys.stdin.read())


class FakeSyncObj(object):
    def __init__(self, records):
        self.records = records

    def get(self, key, recursive=False):
        if not recursive:
            return self.records.get(key)
        return {k: v for k, v in self.records.items() if k.startswith(key)}


dcs = object.__new__(Raft)
AbstractDCS.__init__(dcs, {'name': 'bench', 'scope': 'batman', 'group': 0, 'loop_wait': 10})
dcs._ttl = 30
dcs._sync_obj = FakeSyncObj(data)
cluster = dcs.get_cluster()
assert len(cluster.workers) == groups - 1, len(cluster.workers)
assert len(cluster.members) == members
n = 0
t0 = time.perf_counter()
while time.perf_counter() - t0 < seconds:
    dcs.get_cluster()
    n += 1
elapsed = time.perf_counter() - t0
print(json.dumps({'get_cluster_ms': elapsed / n * 1000, 'n': n}))
