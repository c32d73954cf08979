/**
 * The allow-list of Python globals the pickle decoder resolves (docs/protocol.md §5): `_codecs.encode`,
 * `bytes`, `set`, `frozenset`, `pysyncobj.node.TCPNode`/`Node`, `copyreg._reconstructor` and the
 * `object` it names, each under its Python 3 and (for builtins and copyreg) Python 2 spelling.
 *
 * What it is for: mapping a GLOBAL/STACK_GLOBAL `module\nname` to a GlobalRef the decoder's REDUCE,
 * NEWOBJ and BUILD know how to apply.
 *
 * What it must never do: resolve anything outside this list (Python's unpickler imports and calls any
 * global, which is pysyncobj's remote-code-execution hole), or import or call anything itself.
 */
import { NODE_CLASS, TCP_NODE_CLASS } from '../value.js';

export const G_CODECS_ENCODE = 0;
export const G_BYTES = 1;
export const G_SET = 2;
export const G_FROZENSET = 3;
export const G_TCPNODE = 4;
export const G_NODE = 5;
export const G_RECONSTRUCTOR = 6;
export const G_OBJECT = 7;

/** A reference to an allow-listed class or function; lives on the stack only, never in a result. */
export class GlobalRef {
  constructor(
    readonly id: number,
    readonly qualname: string,
  ) {}
}

const ALLOWED = new Map<string, GlobalRef>();
function allow(id: number, qualname: string, spellings: string[]): void {
  const ref = new GlobalRef(id, qualname);
  for (const s of spellings) ALLOWED.set(s, ref);
}
allow(G_CODECS_ENCODE, '_codecs.encode', ['_codecs\nencode']);
allow(G_BYTES, 'builtins.bytes', ['__builtin__\nbytes', 'builtins\nbytes']);
allow(G_SET, 'builtins.set', ['__builtin__\nset', 'builtins\nset']);
allow(G_FROZENSET, 'builtins.frozenset', ['__builtin__\nfrozenset', 'builtins\nfrozenset']);
allow(G_TCPNODE, TCP_NODE_CLASS, ['pysyncobj.node\nTCPNode']);
allow(G_NODE, NODE_CLASS, ['pysyncobj.node\nNode']);
allow(G_RECONSTRUCTOR, 'copyreg._reconstructor', ['copy_reg\n_reconstructor', 'copyreg\n_reconstructor']);
// only meaningful as the second argument of _reconstructor(cls, object, state)
allow(G_OBJECT, 'builtins.object', ['__builtin__\nobject', 'builtins\nobject']);

export const CODECS_ENCODE = ALLOWED.get('_codecs\nencode') as GlobalRef;

/** Python 2 module names: Python 3 maps them (fix_imports) only in pickles of protocol < 3 */
const PY2_SPELLINGS: ReadonlySet<string> = new Set(
  [...ALLOWED.keys()].filter((k) => k.startsWith('__builtin__\n') || k.startsWith('copy_reg\n')),
);

/** The allow-listed globals, `module.name`, both spellings (for documentation and tests). */
export const ALLOWED_GLOBALS: readonly string[] = Object.freeze(
  [...ALLOWED.keys()].map((k) => k.replace('\n', '.')),
);

/** The allow-listed global spelled `module\nname`, if any (whatever the protocol). */
export function allowedGlobal(key: string): GlobalRef | undefined {
  return ALLOWED.get(key);
}

/** Whether `module\nname` is a Python 2 spelling (mapped only in pickles of protocol < 3). */
export function isPy2Spelling(key: string): boolean {
  return PY2_SPELLINGS.has(key);
}
