/**
 * Debian's Python as the oracle for test/py: run a script that reads one JSON value on stdin (in
 * `data`) and prints one JSON value (`json.dumps(result)`, ASCII, so lone surrogates survive).
 */
import { runPython } from '../helpers/python.js';

/** Run `body` (Python, which must set `result`) with `data` = the JSON-decoded input. */
export function askPython<T>(body: string, input: unknown): T {
  const code = `import json, sys\ndata = json.loads(sys.stdin.read())\n${body}\nprint(json.dumps(result))\n`;
  return JSON.parse(runPython(code, JSON.stringify(input))) as T;
}

/** A double as 16 hex digits (big endian), so -0.0, NaN and infinities cross JSON intact. */
export function doubleHex(x: number): string {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(x);
  return b.toString('hex');
}

/** Python: `fromhex(h)` turns `doubleHex` back into a float. */
export const PY_FROMHEX = `
import struct
def fromhex(h):
    return struct.unpack('>d', bytes.fromhex(h))[0]
`;
