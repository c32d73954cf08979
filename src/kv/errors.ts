/**
 * Errors of the KV and DCS layers. `RaftError` is a `DCSError`, as in Patroni: the HA loop treats
 * a DCSError as "the DCS is unreachable".
 */

export class DCSError extends Error {
  override readonly name: string = 'DCSError';
}

export class RaftError extends DCSError {
  override readonly name: string = 'RaftError';
}
