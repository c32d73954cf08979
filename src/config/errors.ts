/**
 * The error every configuration problem is reported with: which key (a dotted path such as
 * `raft.self_addr`, `raft.partner_addrs[1]`, or '' for the configuration as a whole) and why.
 * It extends the runtime's ConfigError, so code that catches that one catches this one too.
 *
 * This module must never print or exit: the CLI decides how an error reaches the operator.
 */
import { ConfigError as RaftConfigError } from '../raft/config.js';

export class ConfigError extends RaftConfigError {
  /**
   * @param key the dotted key path at fault ('' = the whole configuration)
   * @param reason what was expected and what was found
   */
  constructor(key: string, reason: string) {
    super(key, reason);
    // `raft.self_addr: is required` — or just the reason when no single key is at fault
    this.message = key === '' ? reason : `${key}: ${reason}`;
  }
}
