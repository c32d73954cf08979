/**
 * Errors of the KV and DCS layers. `RaftError` is a `DCSError`, as in Patroni: the HA loop treats
 * a DCSError as "the DCS is unreachable". Each class has its own code; the message is Patroni's
 * text (e.g. `timeout`).
 */
import { RaftdcsError } from '../errors.js';

export const DcsErrorCode = {
  /** a `DCSError` as such */
  Dcs: 'DCS_ERROR',
  /** a `RaftError`: the Raft store did not answer in time */
  Raft: 'RAFT_ERROR',
  /** a `RaftConfigError`: Patroni's `raft:` configuration is invalid */
  RaftConfig: 'RAFT_CONFIG_INVALID',
} as const;
export type DcsErrorCode = (typeof DcsErrorCode)[keyof typeof DcsErrorCode];

export class DCSError extends RaftdcsError<DcsErrorCode> {
  override readonly name: string = 'DCSError';
  constructor(message?: string, options?: { cause?: unknown }) {
    super(DcsErrorCode.Dcs, message ?? '', options);
  }
}

export class RaftError extends DCSError {
  override readonly name: string = 'RaftError';
  override readonly code: DcsErrorCode = DcsErrorCode.Raft;
}
