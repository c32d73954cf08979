/**
 * The state a SyncObj puts into a full dump, in pysyncobj's layout: the object's attribute dict
 * alone, or — when consumers are attached — a list `[attributes, consumer 1 state, ...]`.
 *
 * What it is for: composing that value from the parts, and splitting a loaded one back.
 *
 * What it must never do: interpret the attributes or the consumers' states (SyncObj and the
 * consumers do), or throw on a value of an unexpected shape (a missing part reads as absent).
 */
import type { PyDict, PyValue } from '../../wire/value.js';

/** The dump state of an object with attributes `own` and its consumers' states. */
export function composeObjectState(own: PyDict, consumerStates: readonly PyValue[]): PyValue {
  if (consumerStates.length === 0) return own;
  return [own, ...consumerStates];
}

/** A loaded dump state split into the attribute dict (if any) and the state of each of `consumers` consumers. */
export function splitObjectState(
  data: PyValue,
  consumers: number,
): { readonly own: PyDict | undefined; readonly consumerStates: readonly PyValue[] } {
  if (Array.isArray(data)) {
    const [own, ...rest] = data;
    return {
      own: own instanceof Map ? own : undefined,
      consumerStates: Array.from({ length: consumers }, (_, i) => rest[i] ?? null),
    };
  }
  return { own: data instanceof Map ? data : undefined, consumerStates: [] };
}
