/**
 * The pickle subset spoken by pysyncobj peers: a safe, allow-listed decoder and a canonical
 * protocol-2 encoder (see decode.ts and encode.ts for what each must never do, and why they are
 * hand-written).
 */
export { ALLOWED_GLOBALS, DEFAULT_DECODE_LIMITS, type DecodeLimits, decodePickle } from './decode.js';
export { DEFAULT_ENCODE_MAX_DEPTH, type EncodeOptions, encodePickle } from './encode.js';
export { NEVER_EQUAL, PyHasher, pyHashKey } from './hash.js';
export { Op as PickleOp, opcodeLabel } from './opcodes.js';
