/**
 * Replicated methods: a decorator that marks a method with its wire name and version, and the
 * function-id table pysyncobj derives from them (docs/protocol.md §8.2).
 *
 *   class Counter extends SyncObj {
 *     @replicated({ name: 'incr', ver: 0 })
 *     incr(call: ReplicatedCall): number { ... }
 *   }
 *   await counter.call(counter.incr, [5]);
 *
 * Function ids are assigned exactly as pysyncobj assigns them: every method `name` with version
 * `ver` is known by its alias `name_v<ver>`; aliases of the object (consumer number 0) and of each
 * consumer (1, 2, …) are sorted by (ver, consumer number, alias) and numbered 0, 1, 2, …
 * Callers use, per method name, the alias with the highest version ≤ the enabled code version.
 */
import type { PyDict, PyValue } from '../wire/value.js';

// biome-ignore lint/suspicious/noExplicitAny: any function shape can carry the replicated mark
type AnyFunction = (...args: any[]) => unknown;

export interface ReplicatedSpec {
  /** the method name on the wire (as Python peers define it); defaults to the TypeScript name */
  readonly name?: string;
  /** code version (pysyncobj `ver`), default 0 */
  readonly ver?: number;
}

/** What a replicated method receives when a committed entry is applied. */
export interface ReplicatedCall {
  readonly args: readonly PyValue[];
  /** keyword arguments (empty when none were sent) */
  readonly kwargs: PyDict;
  /** log index of the entry being applied */
  readonly index: number;
  /** term of the entry being applied */
  readonly term: number;
}

interface MethodMeta {
  readonly name: string;
  readonly ver: number;
}

const META = new WeakMap<AnyFunction, MethodMeta>();

/**
 * Decorator (TypeScript `experimentalDecorators`) marking a method as replicated. For plain
 * JavaScript use `markReplicated(fn, spec)`.
 */
export function replicated(spec: ReplicatedSpec = {}) {
  return (_target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): void => {
    const fn = descriptor.value;
    if (typeof fn !== 'function')
      throw new TypeError(`@replicated applies to methods, not ${String(propertyKey)}`);
    markReplicated(fn, { name: spec.name ?? String(propertyKey), ver: spec.ver ?? 0 });
  };
}

export function markReplicated(fn: AnyFunction, spec: ReplicatedSpec & { name: string }): void {
  const ver = spec.ver ?? 0;
  if (!Number.isSafeInteger(ver) || ver < 0)
    throw new TypeError(`replicated ${spec.name}: ver must be an int ≥ 0`);
  META.set(fn, { name: spec.name, ver });
}

interface Registered {
  readonly funcId: number;
  readonly alias: string;
  readonly name: string;
  readonly ver: number;
  readonly owner: object;
  readonly fn: AnyFunction;
}

/** Replicated methods found on an object's prototype chain (like Python's `dir(self)`). */
function findMethods(obj: object): { name: string; ver: number; fn: AnyFunction }[] {
  const out = new Map<string, { name: string; ver: number; fn: AnyFunction }>();
  for (
    let proto = Object.getPrototypeOf(obj);
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      const desc = Object.getOwnPropertyDescriptor(proto, key);
      const fn = desc?.value;
      if (typeof fn !== 'function') continue;
      const meta = META.get(fn);
      if (!meta) continue;
      const alias = `${meta.name}_v${meta.ver}`;
      if (!out.has(alias)) out.set(alias, { name: meta.name, ver: meta.ver, fn });
    }
  }
  return [...out.values()];
}

export class FunctionTable {
  private readonly byId: Registered[] = [];
  /** per owner: method name → versions (sorted) */
  private readonly versions = new Map<object, Map<string, number[]>>();
  private readonly byOwnerAlias = new Map<object, Map<string, Registered>>();
  private readonly fnOwner = new Map<AnyFunction, { owner: object; name: string }[]>();
  readonly selfCodeVersion: number;

  constructor(main: object, consumers: readonly object[]) {
    const all: {
      ver: number;
      consumer: number;
      alias: string;
      name: string;
      owner: object;
      fn: AnyFunction;
    }[] = [];
    const owners = [main, ...consumers];
    owners.forEach((owner, consumer) => {
      for (const m of findMethods(owner)) {
        all.push({ ver: m.ver, consumer, alias: `${m.name}_v${m.ver}`, name: m.name, owner, fn: m.fn });
      }
    });
    all.sort(
      (a, b) =>
        a.ver - b.ver || a.consumer - b.consumer || (a.alias < b.alias ? -1 : a.alias > b.alias ? 1 : 0),
    );
    let maxVer = 0;
    all.forEach((m, funcId) => {
      const reg: Registered = { funcId, alias: m.alias, name: m.name, ver: m.ver, owner: m.owner, fn: m.fn };
      this.byId.push(reg);
      maxVer = Math.max(maxVer, m.ver);
      const aliases = this.byOwnerAlias.get(m.owner) ?? new Map<string, Registered>();
      this.byOwnerAlias.set(m.owner, aliases);
      aliases.set(m.alias, reg);
      const vers = this.versions.get(m.owner) ?? new Map<string, number[]>();
      this.versions.set(m.owner, vers);
      const list = vers.get(m.name) ?? [];
      list.push(m.ver);
      list.sort((x, y) => x - y);
      vers.set(m.name, list);
      const owners2 = this.fnOwner.get(m.fn) ?? [];
      owners2.push({ owner: m.owner, name: m.name });
      this.fnOwner.set(m.fn, owners2);
    });
    this.selfCodeVersion = maxVer;
  }

  get size(): number {
    return this.byId.length;
  }

  /** The method to run for a function id (when applying). */
  lookup(funcId: number): { owner: object; fn: AnyFunction; alias: string } | undefined {
    return this.byId[funcId];
  }

  /**
   * The function id a caller uses for `fn` (a replicated method of `owner`) under the enabled code
   * version: the alias with the highest version ≤ enabledVersion.
   */
  idFor(owner: object, fn: AnyFunction, enabledVersion: number): number {
    const meta = META.get(fn);
    if (!meta) throw new TypeError('not a replicated method (missing @replicated)');
    const versions = this.versions.get(owner)?.get(meta.name);
    if (!versions) throw new TypeError(`replicated method ${meta.name} is not registered on this object`);
    let chosen: number | undefined;
    for (const v of versions) if (v <= enabledVersion) chosen = v;
    if (chosen === undefined) {
      throw new TypeError(
        `replicated method ${meta.name} has no version ≤ enabled code version ${enabledVersion}`,
      );
    }
    const reg = this.byOwnerAlias.get(owner)?.get(`${meta.name}_v${chosen}`);
    if (!reg) throw new TypeError(`replicated method ${meta.name}_v${chosen} is missing`);
    return reg.funcId;
  }

  /** All aliases in id order (for diagnostics and tests). */
  aliases(): string[] {
    return this.byId.map((r) => r.alias);
  }
}
