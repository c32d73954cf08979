/**
 * Exit codes of the raftdcs commands (documented in docs/controller.md, docs/admin.md,
 * docs/recover.md and docs/backups.md).
 *
 * `patroni_raft_controller` exits 1 on a configuration error, like ours; `syncobj_admin` exits 0
 * whatever the outcome and 2 on bad arguments, like `raftdcs admin` without `--json`.
 */
export const ExitCode = {
  /** stopped cleanly (SIGTERM/SIGINT), or the command succeeded */
  Ok: 0,
  /** configuration or command-line error; nothing was started */
  Config: 1,
  /** bad arguments to `raftdcs admin` (argparse's code) */
  Usage: 2,
  /** could not start: the Raft port or the HTTP endpoint could not be bound, data files unreadable */
  StartFailed: 3,
  /** the node stopped on a fatal error while running, or did not shut down cleanly; recover: writing failed */
  Fatal: 4,
  /** `raftdcs recover` refused (node running, data incomplete, majority alive…): nothing was changed */
  Refused: 5,
  /** `raftdcs snapshot status`: the file is not an intact snapshot file (unreadable, truncated, damaged) */
  Damaged: 6,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];
