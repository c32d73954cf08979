#!/usr/bin/python3
"""CPython pickle + zlib on one message, for raftdcs's codec benchmark.

Reads a protocol-2 pickle of the message on stdin (as raftdcs encodes it), loads it, then times
the same round trip raftdcs's benchmark times: pickle.dumps(msg, 2) + zlib.compress(level 3) +
zlib.decompress + pickle.loads, for `seconds` seconds. Prints one JSON line.
"""
import json
import pickle
import sys
import time
import zlib

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
msg = pickle.loads(sys.stdin.buffer.read())
n = 0
size = 0
t0 = time.perf_counter()
deadline = t0 + seconds
while True:
    for _ in range(50):
        p = pickle.dumps(msg, 2)
        z = zlib.compress(p, 3)
        back = pickle.loads(zlib.decompress(z))
        n += 1
    if time.perf_counter() >= deadline:
        break
elapsed = time.perf_counter() - t0
size = len(z)
assert back == msg
print(json.dumps({'msgs_per_s': n / elapsed, 'n': n, 'pickle_bytes': len(p), 'zlib_bytes': size}))
