/**
 * RaftCore — the Raft algorithm as a pure, deterministic state machine, speaking pysyncobj's
 * message set so Python peers interoperate.
 *
 * Inputs: `tick(now)`, `step(from, message, now)`, `propose(command, ref, now)`,
 * `peerConnected/peerDisconnected`, `onPersisted(index, term)`, `installSnapshot(...)`,
 * `compact(...)`. Outputs are accumulated and handed over by `takeOutput()`: the hard state and
 * log changes to persist, messages to send now, messages to send only once that persistence is
 * durable, committed entries to apply, proposal outcomes and events.
 *
 * It must never touch a clock, a timer, a socket, a file or an unseeded random source: time and
 * randomness come in through the API and the options. That is what lets the simulator replay any
 * history exactly from a seed.
 *
 * Deliberate differences from pysyncobj that keep wire compatibility (docs/protocol.md §12):
 *  - term and vote are persisted before a vote or an acknowledgement leaves the node;
 *  - the leader commits only entries of its current term, counting itself only once persisted;
 *  - commit indexes never decrease; match indexes never decrease while a connection lasts (but
 *    for the anomaly of a Python follower asking for less than it was counted for) and a rewind
 *    (reset) never goes below matchIndex + 1;
 *  - a follower whose answers carry no term (a Python one) deletes everything after prevLogIdx on
 *    every append it accepts, so it is counted only for what it holds at every moment from then on:
 *    per connection the leader keeps, in order, the appends sent to it that are not answered yet
 *    (it answers each append of its term once, in order), pops one per answer, and counts an
 *    answer only up to the lowest prevLogIdx still in flight (`PeerLink`);
 *  - a follower answers an append of an older term with its term (pysyncobj: no answer), and a
 *    node steps down on a next_node_idx of a later term; a reconnect does not count as an answer
 *    for the leader fallback;
 *  - votes are counted once per voter and only from voting members;
 *  - a follower truncates only on a real conflict and never past the commit index;
 *  - chunked snapshot messages do not move the commit index; transmissions are never sent;
 *  - one uncommitted membership change at a time; a removed node stops campaigning;
 *  - leadership transfer (Raft thesis §3.10, raftdcs nodes only): a leader asked to hand over
 *    refuses new proposals, brings the target's log up to its own and sends it `timeout_now`; the
 *    target campaigns at once with `transfer` on its vote requests, which lets raftdcs voters past
 *    leader stickiness. Abandoned after the maximum election timeout.
 */
import { invariant } from './invariant.js';
import { RaftLog } from './log.js';
import type { CoreInitialState, CoreOptions, SnapshotData } from './options.js';
import {
  CommandType,
  FailReason,
  type HardState,
  type LogEntry,
  type MembershipChange,
  NO_OP_COMMAND,
  type NodeId,
  type OutgoingMessage,
  type RaftMessage,
  RaftState,
} from './types.js';

/** Opaque reference of a local proposal; outcomes are reported with it. */
export type ProposalRef = number;

export type ProposalOutcome =
  | { readonly ref: ProposalRef; readonly kind: 'assigned'; readonly index: number; readonly term: number }
  | { readonly ref: ProposalRef; readonly kind: 'failed'; readonly reason: FailReason };

export type CoreEvent =
  | { readonly type: 'stateChanged'; readonly from: RaftState; readonly to: RaftState; readonly term: number }
  | { readonly type: 'leaderChanged'; readonly leader: NodeId | null; readonly term: number }
  | {
      readonly type: 'membershipChanged';
      readonly change: MembershipChange;
      readonly members: readonly NodeId[];
    }
  | { readonly type: 'membershipReset'; readonly members: readonly NodeId[] }
  | { readonly type: 'snapshotReceived'; readonly data: Uint8Array; readonly from: NodeId }
  /**
   * a leadership transfer was given up (its deadline passed, or the target answered as a pysyncobj
   * node): this node leads on and accepts proposals again
   */
  | { readonly type: 'transferAbandoned'; readonly target: NodeId; readonly reason: string }
  | { readonly type: 'ready' }
  | { readonly type: 'anomaly'; readonly message: string };

export interface CoreOutput {
  /** persist before anything in `sendAfterPersist` leaves the node */
  readonly hardState: HardState | undefined;
  /** delete persisted entries with index ≥ this before appending `entries` */
  readonly truncateFrom: number | undefined;
  /** entries to append to the persisted log (consecutive) */
  readonly entries: readonly LogEntry[];
  /** messages that may be sent at once */
  readonly send: readonly OutgoingMessage[];
  /** messages that may leave only after the hard state and entries above (and earlier ones) are durable */
  readonly sendAfterPersist: readonly OutgoingMessage[];
  /** committed entries to apply to the state machine, in order */
  readonly apply: readonly LogEntry[];
  /** the commit index after this output (persist lazily as a hint) */
  readonly commitIndex: number;
  readonly proposals: readonly ProposalOutcome[];
  readonly events: readonly CoreEvent[];
}

export { RaftInvariantError } from './invariant.js';

/** Why a leader will not hand leadership over (`transferLeadership`); nothing changed. */
export type TransferRefusalCode =
  | 'not-leader'
  | 'busy'
  | 'self'
  | 'not-voter'
  | 'unknown'
  | 'not-connected'
  | 'pysyncobj';

export interface TransferRefusal {
  readonly code: TransferRefusalCode;
  /** a sentence for people, naming the nodes involved */
  readonly message: string;
}

/** A leadership transfer under way on this leader. */
interface LeadershipTransfer {
  readonly target: NodeId;
  /** abandoned at this time (tick-driven) */
  readonly deadlineMs: number;
  /** `timeout_now` went out over the target's current connection */
  timeoutNowSent: boolean;
}

type Origin =
  | { readonly kind: 'local'; readonly ref: ProposalRef | null }
  | { readonly kind: 'remote'; readonly peer: NodeId; readonly requestId: number | undefined };

interface QueuedCommand {
  readonly command: Uint8Array;
  readonly origin: Origin;
}

interface PeerProgress {
  nextIndex: number;
  matchIndex: number;
  lastResponseMs: number;
  /** last commit index told to this peer */
  sentCommit: number;
  /** time of the last rewind caused by a reset (to damp storms of stale resets) */
  lastRewindMs: number;
  /** bytes of the current snapshot already sent, when a transfer is under way */
  snapshotOffset: number | undefined;
  /** highest entry index sent to this peer */
  lastSentIndex: number;
  /** send a heartbeat in the next flush even if nothing is new */
  forceHeartbeat: boolean;
}

/**
 * An append_entries (or a snapshot's last chunk) sent over the current connection to a peer whose
 * answers carry no term, not answered yet. A pysyncobj follower answers every append_entries of its
 * term or a later one exactly once and in order (syncobj.py, __onMessageReceived: one
 * __sendNextNodeIdx on every path; an older term gets no answer), and a snapshot only on its last
 * chunk (`setTransmissionData` is true only then); we never send transmissions.
 */
interface SentAppend {
  /** the terms it was sent in (a merged record spans several) */
  termMin: number;
  termMax: number;
  /** the follower's log ends here for a moment when it accepts it: prevLogIdx (a snapshot: its last index) */
  readonly floor: number;
  /** the follower's log ends here once it accepted it */
  readonly end: number;
  /** answers still to come for it (more than one once records were merged) */
  answers: number;
  /** an answer to it may count: a single append (a snapshot's answer never counts; the next append's does) */
  readonly counts: boolean;
}

/** What the leader knows of one connection to a peer, whatever its own role (reset by peerConnected/peerDisconnected). */
interface PeerLink {
  /** the peer's answers carry their term: a raftdcs follower, counted by its answers alone */
  termed: boolean;
  /** an answer without a term came over this connection: a pysyncobj follower */
  answeredWithoutTerm: boolean;
  /** appends in flight, oldest first (only while `termed` is false) */
  readonly sent: SentAppend[];
}

/** More appends in flight than this to one peer: the oldest two records are merged (never less safe). */
const MAX_TRACKED_APPENDS = 1024;

export interface CoreStatus {
  readonly selfId: NodeId | null;
  readonly state: RaftState;
  readonly term: number;
  readonly votedFor: NodeId | null;
  readonly leader: NodeId | null;
  readonly commitIndex: number;
  readonly lastApplied: number;
  readonly persistedIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly logLength: number;
  readonly members: readonly NodeId[];
  readonly connected: readonly NodeId[];
  readonly readonlyPeers: readonly NodeId[];
  readonly nextIndex: ReadonlyMap<NodeId, number>;
  readonly matchIndex: ReadonlyMap<NodeId, number>;
  readonly leaderCommitIndex: number | null;
  readonly hasQuorum: boolean;
  readonly isReady: boolean;
  readonly selfRemoved: boolean;
}

export type CoreBrief = Pick<
  CoreStatus,
  'state' | 'term' | 'commitIndex' | 'lastApplied' | 'firstIndex' | 'lastIndex' | 'lastTerm'
>;

export class RaftCore {
  private readonly opts: CoreOptions;
  private readonly selfId: NodeId | null;
  private readonly log: RaftLog;

  private state: RaftState = RaftState.Follower;
  private term: number;
  private votedFor: NodeId | null;
  private leaderId: NodeId | null = null;
  private commitIndex: number;
  private lastApplied: number;
  private persistedIndex: number;
  private leaderCommitIndex: number | null = null;
  private readyFired = false;

  private readonly members: Set<NodeId>;
  private selfRemoved = false;
  private readonly connected = new Set<NodeId>();
  private readonly readonlyPeers = new Set<NodeId>();

  private electionDeadlineMs: number;
  /** when the leader was last heard from (a follower's view) */
  private lastLeaderContactMs = Number.NEGATIVE_INFINITY;
  private readonly votes = new Set<NodeId>();

  // leader state
  private readonly progress = new Map<NodeId, PeerProgress>();
  /** per connection, kept across roles and terms: answers to a past leadership's appends still come */
  private readonly links = new Map<NodeId, PeerLink>();
  private noopIndex = 0;
  private nextHeartbeatMs = 0;
  private readonly dirtyPeers = new Set<NodeId>();
  /** peers whose round budget ran out: they continue at the next tick, not in the same drain */
  private readonly continuePeers = new Set<NodeId>();
  private leadershipTransfer: LeadershipTransfer | null = null;

  // proposals
  private readonly waitingLeader: QueuedCommand[] = [];
  private readonly forwarded = new Map<number, ProposalRef>();
  private requestCounter = 0;

  // follower receive buffers
  private transmissionBuffer: Uint8Array[] | null = null;
  private snapshotBuffer: Uint8Array[] | null = null;
  private installingSnapshot = false;

  private snapshot: SnapshotData | null;

  // output accumulator
  private outHardStateDirty = false;
  private outTruncateFrom: number | undefined;
  private outDirtyFrom = Number.POSITIVE_INFINITY;
  private outSend: OutgoingMessage[] = [];
  private outSendAfterPersist: OutgoingMessage[] = [];
  private outApply: LogEntry[] = [];
  private outProposals: ProposalOutcome[] = [];
  private outEvents: CoreEvent[] = [];

  private now: number;

  constructor(options: CoreOptions, initial: CoreInitialState) {
    this.opts = options;
    this.selfId = options.selfId;
    this.log = new RaftLog(initial.entries);
    this.term = initial.hardState.term;
    this.votedFor = initial.hardState.votedFor;
    if (this.log.lastTerm > this.term && !options.unsafeTestFaults?.skipPersistHardState) {
      // a journal lost or reset while the dump survived: never go back below the log's terms
      this.term = this.log.lastTerm;
      this.votedFor = null;
      this.outHardStateDirty = true;
    }
    this.now = initial.nowMs;
    this.persistedIndex = this.log.lastIndex;
    this.lastApplied = Math.max(initial.lastApplied, this.log.firstIndex);
    invariant(
      this.lastApplied <= this.log.lastIndex,
      () => `initial lastApplied ${this.lastApplied} beyond the log's last index ${this.log.lastIndex}`,
    );
    this.commitIndex = Math.min(Math.max(initial.commitIndex, this.lastApplied), this.log.lastIndex);
    this.snapshot = initial.snapshot ?? null;
    this.members = new Set(initial.peers.filter((p) => p !== this.selfId));
    this.selfRemoved = initial.selfRemoved === true && this.selfId !== null;
    if (options.dynamicMembershipChange) {
      // `peers` is the membership as of lastApplied (a loaded dump's cluster, or the configured
      // peers of a log starting at its first entry); membership takes effect on append, so every
      // change in the log after that point applies now. A pysyncobj dump's cluster may already
      // include the change of an entry after its last one (its membership when it dumped): applying
      // that change again does nothing, and truncating the entry still rolls it back
      for (const e of this.log.slice(this.lastApplied + 1)) this.applyMembershipEntry(e, false, false);
    }
    this.electionDeadlineMs = this.now + this.randomElectionTimeout();
    this.applyCommitted();
  }

  // --------------------------------------------------------------------------------------------
  // inputs

  /** Advance time: elections, heartbeats, leader fallback. */
  tick(nowMs: number): void {
    this.advanceClock(nowMs);
    if (this.state !== RaftState.Leader) {
      if (this.canCampaign() && this.now >= this.electionDeadlineMs && this.connectedToAnyVoter()) {
        this.startElection();
      }
    }
    if (this.state === RaftState.Leader) {
      this.checkLeaderFallback();
    }
    if (this.state === RaftState.Leader) this.checkTransferDeadline();
    if (this.state === RaftState.Leader && this.continuePeers.size > 0) {
      for (const p of this.continuePeers) this.dirtyPeers.add(p);
      this.continuePeers.clear();
    }
    if (this.state === RaftState.Leader && this.now >= this.nextHeartbeatMs) {
      this.nextHeartbeatMs = this.now + this.opts.appendEntriesPeriodMs;
      for (const peer of this.replicationTargets()) this.replicateTo(peer, true);
    }
  }

  /** Handle one message from a peer. */
  step(from: NodeId, message: RaftMessage, nowMs: number): void {
    this.advanceClock(nowMs);
    switch (message.type) {
      case 'request_vote':
        this.onRequestVote(
          from,
          message.term,
          message.lastLogIndex,
          message.lastLogTerm,
          message.transfer === true,
        );
        return;
      case 'response_vote':
        this.onVoteBarrier(from, message.term);
        this.onResponseVote(from, message.term);
        return;
      case 'append_entries':
      case 'append_entries_transmission':
      case 'append_entries_snapshot':
        this.onAppendEntries(from, message);
        return;
      case 'next_node_idx': {
        // in any role: the answer is to an append sent over this connection, maybe in a past leadership
        const answered = this.takeAnswer(from, message.term !== undefined);
        if (message.term === undefined) this.onAnswerWithoutTerm(from);
        if (message.term !== undefined && message.term > this.term) {
          // a raftdcs peer is in a later term (it answers an append of a deposed leader with it)
          this.stepDownToTerm(message.term);
          return;
        }
        // an answer that says which term it answers (raftdcs followers) must be from this term
        if (this.state === RaftState.Leader && (message.term === undefined || message.term === this.term)) {
          this.onNextNodeIdx(from, message.nextNodeIdx, message.reset, message.success, answered);
        }
        return;
      }
      case 'timeout_now':
        this.onTimeoutNow(from, message.term);
        return;
      case 'apply_command':
        this.submit({
          command: message.command,
          origin: { kind: 'remote', peer: from, requestId: message.requestId },
        });
        return;
      case 'apply_command_response':
        this.onApplyCommandResponse(message);
        return;
    }
  }

  /**
   * Propose a command (type byte + payload). `ref` identifies the proposal in the outcome
   * (`assigned` with index/term, then the runtime waits for that index to apply; or `failed`);
   * null = fire and forget.
   */
  propose(command: Uint8Array, ref: ProposalRef | null, nowMs: number): void {
    this.advanceClock(nowMs);
    this.submit({ command, origin: { kind: 'local', ref } });
  }

  /**
   * Hand leadership to `target` (Raft thesis §3.10): from now on refuse new proposals, bring the
   * target's log up to ours, then send it `timeout_now` so that it campaigns at once. Done when the
   * target's election reaches this node (a `leaderChanged` to it); given up at the maximum election
   * timeout (`transferAbandoned`, and proposals are accepted again). Only raftdcs targets: a
   * pysyncobj node does not know `timeout_now`; it is refused when it has answered without a term
   * over its current connection, and the transfer is abandoned at its first such answer when it
   * had not answered yet. Returns why it cannot start (nothing changed), or null once it runs.
   */
  transferLeadership(target: NodeId, nowMs: number): TransferRefusal | null {
    this.advanceClock(nowMs);
    const refusal = this.transferRefusal(target);
    if (refusal !== null) return refusal;
    this.leadershipTransfer = {
      target,
      deadlineMs: this.now + this.opts.electionTimeoutMaxMs,
      timeoutNowSent: false,
    };
    this.maybeSendTimeoutNow();
    return null;
  }

  peerConnected(peer: NodeId, readonly: boolean, nowMs: number): void {
    this.advanceClock(nowMs);
    this.resetLink(peer);
    this.transferConnectionChanged(peer);
    if (
      this.state !== RaftState.Leader &&
      this.members.has(peer) &&
      !this.connectedToAnyVoter() &&
      this.electionDeadlineMs < this.now + this.opts.electionTimeoutMinMs
    ) {
      // The first voter we reach after hearing from nobody (a restart, a long partition): our
      // election timer may have run out while no leader could reach us. Give the leader a whole
      // timeout to show itself, or a node that just started — whose peers were still backing off
      // their redials — answers the leader's first append with a higher term and deposes it.
      this.electionDeadlineMs = this.now + this.randomElectionTimeout();
    }
    this.connected.add(peer);
    if (readonly) this.readonlyPeers.add(peer);
    if (this.state === RaftState.Leader && (readonly || this.members.has(peer))) {
      const fresh = this.freshProgress();
      // a reconnect is no answer: the leader fallback keeps counting from the peer's last one
      const known = this.progress.get(peer);
      if (known !== undefined) fresh.lastResponseMs = known.lastResponseMs;
      this.progress.set(peer, fresh);
      this.dirtyPeers.add(peer);
    }
  }

  peerDisconnected(peer: NodeId, nowMs: number): void {
    this.advanceClock(nowMs);
    this.resetLink(peer);
    this.transferConnectionChanged(peer);
    this.connected.delete(peer);
    const p = this.progress.get(peer);
    if (p) p.snapshotOffset = undefined;
    if (this.readonlyPeers.delete(peer)) this.progress.delete(peer);
  }

  /** The runtime made entries up to `index` (with `term` at that index) and the hard state durable. */
  onPersisted(index: number, term: number, nowMs: number): void {
    this.advanceClock(nowMs);
    if (index <= this.persistedIndex) return;
    if (this.log.termAt(index) !== term) return; // superseded by a truncation meanwhile
    this.persistedIndex = Math.min(index, this.log.lastIndex);
    if (this.state === RaftState.Leader) this.advanceLeaderCommit();
    this.applyCommitted();
  }

  /**
   * The runtime loaded a snapshot received from the leader (after a `snapshotReceived` event) and
   * made it durable (dump written, journal reset to `[prevEntry, lastEntry]`).
   */
  installSnapshot(
    snapshot: {
      readonly lastEntry: LogEntry;
      readonly prevEntry: LogEntry;
      readonly cluster: readonly NodeId[];
      /** the dump bytes, kept to send on if this node leads later */
      readonly data: Uint8Array;
    },
    nowMs: number,
  ): 'kept-log' | 'replaced-log' | 'ignored' {
    this.advanceClock(nowMs);
    this.installingSnapshot = false;
    const { lastEntry, prevEntry } = snapshot;
    if (lastEntry.index <= this.lastApplied) {
      this.anomaly(`ignored a snapshot at ${lastEntry.index}: already applied ${this.lastApplied}`);
      if (this.leaderId !== null) this.sendNextNodeIdx(this.leaderId, this.log.lastIndex + 1, true, false);
      return 'ignored';
    }
    invariant(
      prevEntry.index + 1 === lastEntry.index,
      () => `snapshot entries ${prevEntry.index}, ${lastEntry.index} are not consecutive`,
    );
    // Raft (Fig. 13, step 6): when the log already holds the snapshot's last entry, keep what
    // follows it — those entries may have been acknowledged to a leader that counted them
    const keep =
      this.log.termAt(lastEntry.index) === lastEntry.term &&
      this.log.termAt(prevEntry.index) === prevEntry.term;
    if (keep) {
      this.log.dropBefore(prevEntry.index);
    } else {
      this.log.reset([prevEntry, lastEntry]);
      this.outTruncateFrom = undefined;
      this.outDirtyFrom = Number.POSITIVE_INFINITY;
      this.persistedIndex = lastEntry.index;
    }
    this.lastApplied = lastEntry.index;
    this.setCommitIndex(Math.max(this.commitIndex, lastEntry.index));
    this.snapshot = { data: snapshot.data, lastIndex: lastEntry.index, lastTerm: lastEntry.term };
    for (const p of this.progress.values()) p.snapshotOffset = undefined;
    if (this.opts.dynamicMembershipChange && !keep) {
      // The dump's cluster is all there is about the membership before its index. A pysyncobj
      // dump's may include a change appended after its last entry and not committed when it was
      // written (pysyncobj dumps its membership of the moment): when that entry comes next, its
      // change is already in effect and its truncation rolls it back; when it never reaches this
      // log, nothing tells it from a change committed before the dump, and it is kept (as on
      // pysyncobj followers). The runtime keeps the stored dump's cluster equal to membersAt().
      this.members.clear();
      for (const n of snapshot.cluster) if (n !== this.selfId) this.members.add(n);
      this.selfRemoved = this.selfId !== null && !snapshot.cluster.includes(this.selfId);
      this.outEvents.push({ type: 'membershipReset', members: [...this.members] });
    }
    if (this.leaderId !== null) {
      // Acknowledge the snapshot only: its entries are committed, so every leader of this term or
      // a later one holds them. What the kept log holds after it came from whichever leader sent
      // it — possibly not the one answered now (a new leader may have been elected during the
      // install) — and is checked by the next append like any other entry.
      const acked =
        this.opts.unsafeTestFaults?.ackKeptLogAfterInstall && keep ? this.log.lastIndex : lastEntry.index;
      this.sendNextNodeIdx(this.leaderId, acked + 1, false, true);
    }
    this.applyCommitted();
    this.checkReady();
    return keep ? 'kept-log' : 'replaced-log';
  }

  /** True when the log holds an entry at `index` with `term`. */
  holdsEntry(index: number, term: number): boolean {
    return this.log.termAt(index) === term;
  }

  /** The runtime's snapshot of a received dump failed to load: forget it and resume. */
  snapshotInstallFailed(nowMs: number): void {
    this.advanceClock(nowMs);
    this.installingSnapshot = false;
    if (this.leaderId !== null) this.sendNextNodeIdx(this.leaderId, this.log.lastIndex + 1, true, false);
  }

  /**
   * The runtime wrote a dump of the state machine at `snapshot.lastIndex` (≤ lastApplied): drop the
   * log before `lastIndex − 1` (the log then starts with the dump's prev and last entries) and keep
   * the dump for sending to followers that are behind it.
   */
  compact(snapshot: SnapshotData, nowMs: number): void {
    this.advanceClock(nowMs);
    invariant(
      snapshot.lastIndex <= this.lastApplied,
      () => `compaction at ${snapshot.lastIndex} beyond lastApplied ${this.lastApplied}`,
    );
    invariant(
      this.log.termAt(snapshot.lastIndex) === snapshot.lastTerm,
      () => `compaction at ${snapshot.lastIndex}: term ${snapshot.lastTerm} does not match`,
    );
    this.log.dropBefore(snapshot.lastIndex - 1);
    this.snapshot = snapshot;
    for (const p of this.progress.values()) p.snapshotOffset = undefined;
  }

  /** Hand over everything accumulated since the last call (replication sends happen here). */
  takeOutput(): CoreOutput | null {
    this.flushReplication();
    const hasLog = this.outDirtyFrom !== Number.POSITIVE_INFINITY || this.outTruncateFrom !== undefined;
    if (
      !this.outHardStateDirty &&
      !hasLog &&
      this.outSend.length === 0 &&
      this.outSendAfterPersist.length === 0 &&
      this.outApply.length === 0 &&
      this.outProposals.length === 0 &&
      this.outEvents.length === 0
    ) {
      return null;
    }
    const out: CoreOutput = {
      hardState: this.outHardStateDirty ? { term: this.term, votedFor: this.votedFor } : undefined,
      truncateFrom: this.outTruncateFrom,
      entries: hasLog ? this.log.slice(this.outDirtyFrom) : [],
      send: this.outSend,
      sendAfterPersist: this.outSendAfterPersist,
      apply: this.outApply,
      commitIndex: this.commitIndex,
      proposals: this.outProposals,
      events: this.outEvents,
    };
    this.outHardStateDirty = false;
    this.outTruncateFrom = undefined;
    this.outDirtyFrom = Number.POSITIVE_INFINITY;
    this.outSend = [];
    this.outSendAfterPersist = [];
    this.outApply = [];
    this.outProposals = [];
    this.outEvents = [];
    return out;
  }

  // --------------------------------------------------------------------------------------------
  // queries

  get role(): RaftState {
    return this.state;
  }

  get currentTerm(): number {
    return this.term;
  }

  get leader(): NodeId | null {
    return this.leaderId;
  }

  get isLeader(): boolean {
    return this.state === RaftState.Leader;
  }

  get isReady(): boolean {
    return this.readyFired;
  }

  get votingMembers(): readonly NodeId[] {
    return [...this.members];
  }

  /**
   * The voting members (this node included, unless removed) as of log index `index` ≤ last index:
   * the current membership with the changes of later entries rolled back. For dumps.
   */
  membersAt(index: number): NodeId[] {
    const members = new Set(this.members);
    let selfIn = this.selfId !== null && !this.selfRemoved;
    if (this.opts.dynamicMembershipChange) {
      const later = this.log.slice(index + 1);
      for (const e of later.reverse()) {
        if (e.command[0] !== CommandType.Membership) continue;
        const change = this.decodeMembershipSafely(e.command);
        if (change === null) continue;
        const undoAdd = change.op === 'add';
        if (change.node === this.selfId) selfIn = !undoAdd;
        else if (undoAdd) members.delete(change.node);
        else members.add(change.node);
      }
    }
    const out = [...members];
    if (selfIn && this.selfId !== null) out.push(this.selfId);
    return out;
  }

  /** Entry at `index` if the log still holds it. */
  entryAt(index: number): LogEntry | undefined {
    return this.log.get(index);
  }

  /** Entries from `from` to the end (for tests and the simulator's checks). */
  entriesFrom(from: number): LogEntry[] {
    return this.log.slice(from);
  }

  hasQuorum(): boolean {
    let count = 0;
    for (const m of this.members) if (this.connected.has(m)) count++;
    let total = this.members.size;
    if (this.selfId !== null && !this.selfRemoved) {
      count++;
      total++;
    }
    return count > total / 2;
  }

  /** The leader's match index for `id` (0 when it tracks none), without building a status. */
  matchIndexOf(id: NodeId): number {
    return this.progress.get(id)?.matchIndex ?? 0;
  }

  status(): CoreStatus {
    const next = new Map<NodeId, number>();
    const match = new Map<NodeId, number>();
    for (const [id, p] of this.progress) {
      next.set(id, p.nextIndex);
      match.set(id, p.matchIndex);
    }
    return {
      selfId: this.selfId,
      state: this.state,
      term: this.term,
      votedFor: this.votedFor,
      leader: this.leaderId,
      commitIndex: this.commitIndex,
      lastApplied: this.lastApplied,
      persistedIndex: this.persistedIndex,
      firstIndex: this.log.firstIndex,
      lastIndex: this.log.lastIndex,
      lastTerm: this.log.lastTerm,
      logLength: this.log.length,
      members: [...this.members],
      connected: [...this.connected],
      readonlyPeers: [...this.readonlyPeers],
      nextIndex: next,
      matchIndex: match,
      leaderCommitIndex: this.leaderCommitIndex,
      hasQuorum: this.hasQuorum(),
      isReady: this.readyFired,
      selfRemoved: this.selfRemoved,
    };
  }

  /** The indexes, role and term only (cheap: for checks after every step in the simulator). */
  brief(): CoreBrief {
    return {
      state: this.state,
      term: this.term,
      commitIndex: this.commitIndex,
      lastApplied: this.lastApplied,
      firstIndex: this.log.firstIndex,
      lastIndex: this.log.lastIndex,
      lastTerm: this.log.lastTerm,
    };
  }

  /** When the next timer-driven action is due (ms), so a runtime can sleep until then. */
  nextDeadline(): number {
    if (this.state === RaftState.Leader)
      return Math.min(this.nextHeartbeatMs, this.leadershipTransfer?.deadlineMs ?? Number.POSITIVE_INFINITY);
    return this.electionDeadlineMs;
  }

  /** The node this leader is handing leadership to, while a transfer runs. */
  get leadershipTransferTarget(): NodeId | null {
    return this.leadershipTransfer?.target ?? null;
  }

  // --------------------------------------------------------------------------------------------
  // elections

  private canCampaign(): boolean {
    return this.selfId !== null && !this.selfRemoved;
  }

  private connectedToAnyVoter(): boolean {
    if (this.members.size === 0) return true;
    for (const m of this.members) if (this.connected.has(m)) return true;
    return false;
  }

  /** `transfer`: the leader handed over (`timeout_now`); the requests say so (leader stickiness). */
  private startElection(transfer = false): void {
    this.electionDeadlineMs = this.now + this.randomElectionTimeout();
    this.setLeader(null);
    this.setState(RaftState.Candidate);
    this.term += 1;
    this.votedFor = this.selfId;
    this.markHardState();
    this.votes.clear();
    this.failForwarded(FailReason.LeaderChanged);
    for (const peer of this.members) {
      this.outSendAfterPersist.push({
        to: peer,
        message: {
          type: 'request_vote',
          term: this.term,
          lastLogIndex: this.log.lastIndex,
          lastLogTerm: this.log.lastTerm,
          ...(transfer ? { transfer: true } : {}),
        },
      });
    }
    this.maybeWinElection();
  }

  private maybeWinElection(): void {
    if (this.state !== RaftState.Candidate) return;
    if (this.votes.size + 1 > (this.members.size + 1) / 2) this.becomeLeader();
  }

  private onRequestVote(
    from: NodeId,
    term: number,
    lastLogIndex: number,
    lastLogTerm: number,
    transfer: boolean,
  ): void {
    if (this.selfId === null) return; // read-only nodes never vote
    if (this.readonlyPeers.has(from)) return;
    // A node outside our membership gets no vote and cannot move our term: a removed member that
    // never learned of its removal must not disrupt us. (The transport now accepts voting nodes we do
    // not know, so that we can follow a leader added after our log ends; pysyncobj refuses their
    // connection, so it never sees their requests either.) Standard Raft would grant a non-member
    // candidate with an up-to-date log; the cost of refusing is availability in one corner — a node
    // added and committed on the leader and the new node only, before the others learned of it, that
    // is needed for a majority after the leader fails — and it is the behaviour before this check too.
    if (!this.members.has(from)) return;
    // A candidate the leader handed over to (`timeout_now`) campaigns at the leader's term + 1 while
    // every voter still hears from that leader (Raft thesis §3.10: "disregard" applies to
    // disruptive candidates, not to this one). Only the next term: a flagged request from further
    // ahead is no transfer of the leadership we know.
    const handedOver = transfer && term === this.term + 1;
    // Raft paper §6: while a current leader is known (heard from within the minimum election timeout),
    // vote requests are disregarded — a removed member that never learned of its removal, or a
    // node cut off from the leader, cannot depose a leader that still reaches a majority
    if (term > this.term && this.currentLeaderKnown() && !handedOver) {
      // ...except a member this leader has lost: a pysyncobj node that campaigned while cut off (it
      // has no pre-vote) sits at a higher term, never answers appends of a lower one and adopts a
      // term only from a message carrying a higher one, so it could never come back while we lead.
      // Its request reaching us shows the link works: we step past its term at once, campaigning
      // at term + 1, and our followers grant the leader they follow (below) — one round trip, after
      // which the member follows the new term. (A raftdcs member at a higher term answers our
      // appends with its term instead, and we step down on that.)
      if (this.state === RaftState.Leader && this.lostFollower(from)) {
        this.anomaly(`member ${from} campaigns at term ${term} and does not follow us: campaigning past it`);
        this.adoptTerm(term);
        this.startElection();
        return;
      }
      // the leader we follow campaigning past a lost member's term
      if (!(this.state === RaftState.Follower && from === this.leaderId)) return;
    }
    if (term > this.term) this.adoptTerm(term);
    if (term < this.term || this.state === RaftState.Leader) return;
    if (lastLogTerm < this.log.lastTerm) return;
    if (lastLogTerm === this.log.lastTerm && lastLogIndex < this.log.lastIndex) return;
    const alreadyVoted = this.votedFor !== null && this.votedFor !== from;
    if (alreadyVoted && !this.opts.unsafeTestFaults?.grantTwoVotesPerTerm) return;
    this.votedFor = from;
    this.markHardState();
    this.electionDeadlineMs = this.now + this.randomElectionTimeout();
    this.outSendAfterPersist.push({ to: from, message: { type: 'response_vote', term } });
  }

  /** We lead, and `peer` has not answered our appends within the minimum election timeout. */
  private lostFollower(peer: NodeId): boolean {
    const p = this.progress.get(peer);
    return p !== undefined && this.now - p.lastResponseMs >= this.opts.electionTimeoutMinMs;
  }

  /**
   * A leader is in contact (Raft paper §6): we lead with a majority heard recently, or follow a
   * leader heard recently.
   */
  private currentLeaderKnown(): boolean {
    const window = this.opts.electionTimeoutMinMs;
    if (this.state === RaftState.Leader) {
      let count = 1;
      for (const peer of this.members) {
        const p = this.progress.get(peer);
        if (p && this.now - p.lastResponseMs < window) count++;
      }
      return count > (this.members.size + 1) / 2;
    }
    return this.leaderId !== null && this.now - this.lastLeaderContactMs < window;
  }

  private onResponseVote(from: NodeId, term: number): void {
    if (this.state !== RaftState.Candidate || term !== this.term) return;
    if (!this.members.has(from)) return; // only voting members count, once each
    this.votes.add(from);
    this.maybeWinElection();
  }

  private becomeLeader(): void {
    this.setState(RaftState.Leader);
    this.setLeader(this.selfId);
    this.progress.clear();
    for (const peer of this.members) this.progress.set(peer, this.freshProgress());
    for (const peer of this.readonlyPeers) this.progress.set(peer, this.freshProgress());
    this.noopIndex = this.log.lastIndex + 1;
    this.appendOwn(NO_OP_COMMAND);
    this.nextHeartbeatMs = this.now + this.opts.appendEntriesPeriodMs;
    for (const peer of this.replicationTargets()) this.dirtyPeers.add(peer);
    this.advanceLeaderCommit();
    this.drainWaitingLeader();
  }

  private freshProgress(): PeerProgress {
    return {
      nextIndex: this.log.lastIndex + 1,
      matchIndex: 0,
      lastResponseMs: this.now,
      sentCommit: 0,
      lastRewindMs: Number.NEGATIVE_INFINITY,
      snapshotOffset: undefined,
      lastSentIndex: 0,
      forceHeartbeat: true,
    };
  }

  /** A peer is in a later term: adopt it and wait for that term's leader (no election at once). */
  private stepDownToTerm(term: number): void {
    const wasLeader = this.state === RaftState.Leader;
    this.adoptTerm(term);
    if (wasLeader) this.electionDeadlineMs = this.now + this.randomElectionTimeout();
  }

  private checkLeaderFallback(): void {
    const deadline = this.now - this.opts.leaderFallbackTimeoutMs;
    let count = 1;
    for (const peer of this.members) {
      const p = this.progress.get(peer);
      if (p && p.lastResponseMs > deadline) count++;
    }
    if (count <= (this.members.size + 1) / 2) {
      this.setState(RaftState.Follower);
      this.setLeader(null);
      this.electionDeadlineMs = this.now + this.randomElectionTimeout();
    }
  }

  // --------------------------------------------------------------------------------------------
  // leadership transfer (Raft thesis §3.10)

  private transferRefusal(target: NodeId): TransferRefusal | null {
    const refuse = (code: TransferRefusalCode, message: string): TransferRefusal => ({ code, message });
    if (this.state !== RaftState.Leader) {
      return this.leaderId === null
        ? refuse('not-leader', 'this node is not the leader, and no leader is known')
        : refuse('not-leader', `this node is not the leader; the leader is ${this.leaderId}`);
    }
    const running = this.leadershipTransfer;
    if (running !== null)
      return refuse('busy', `a leadership transfer to ${running.target} is already running`);
    if (target === this.selfId)
      return refuse('self', `the target ${target} is this node, the leader already`);
    if (this.readonlyPeers.has(target))
      return refuse('not-voter', `the target ${target} is a read-only node, not a voter`);
    if (!this.members.has(target))
      return refuse('unknown', `the target ${target} is not a voting member of the cluster`);
    if (!this.connected.has(target))
      return refuse('not-connected', `the target ${target} is not connected to the leader`);
    // only a raftdcs node knows timeout_now; its answers carry their term (NextNodeIdx.term). A
    // target that has not answered over this connection yet is found out by its first answer
    const link = this.links.get(target);
    if (link?.termed !== true && link?.answeredWithoutTerm === true)
      return refuse('pysyncobj', pysyncobjTargetMessage(target));
    return null;
  }

  /** The target, a raftdcs node, holds our whole log: tell it to campaign (once per connection). */
  private maybeSendTimeoutNow(): void {
    const t = this.leadershipTransfer;
    if (t === null || t.timeoutNowSent || !this.connected.has(t.target)) return;
    if (this.links.get(t.target)?.termed !== true) return; // not known to be a raftdcs node yet
    // proposals are refused meanwhile, so the last index no longer moves
    if (this.matchIndexOf(t.target) < this.log.lastIndex) return;
    t.timeoutNowSent = true;
    this.outSend.push({ to: t.target, message: { type: 'timeout_now', term: this.term } });
  }

  /** A new connection to the target (or none): what went out on the old one may be lost. */
  private transferConnectionChanged(peer: NodeId): void {
    const t = this.leadershipTransfer;
    if (t?.target === peer) t.timeoutNowSent = false;
  }

  private checkTransferDeadline(): void {
    const t = this.leadershipTransfer;
    if (t === null || this.now < t.deadlineMs) return;
    const why = t.timeoutNowSent
      ? 'it was told to campaign but did not take over'
      : `it did not catch up (it holds ${this.matchIndexOf(t.target)} of ${this.log.lastIndex} entries)`;
    this.abandonTransfer(
      `leadership transfer to ${t.target} abandoned after ${this.opts.electionTimeoutMaxMs} ms: ${why}; this node leads on`,
    );
  }

  /** `peer` answered without a term: a pysyncobj node, which a running transfer cannot go to. */
  private onAnswerWithoutTerm(peer: NodeId): void {
    if (this.leadershipTransfer?.target !== peer) return;
    this.abandonTransfer(
      `leadership transfer abandoned: ${pysyncobjTargetMessage(peer)}; this node leads on`,
    );
  }

  /** Give up the running transfer: this node leads on and accepts proposals again. */
  private abandonTransfer(reason: string): void {
    const t = this.leadershipTransfer;
    if (t === null) return;
    this.leadershipTransfer = null;
    this.outEvents.push({ type: 'transferAbandoned', target: t.target, reason });
  }

  /**
   * The leader we follow has brought our log up to its own and hands over: campaign now. Only from
   * that leader and in its term — a stale one (an earlier term, a deposed leader) starts nothing.
   */
  private onTimeoutNow(from: NodeId, term: number): void {
    if (term !== this.term || from !== this.leaderId || this.state !== RaftState.Follower) return;
    if (!this.canCampaign() || !this.members.has(from) || this.installingSnapshot) return;
    this.startElection(true);
  }

  // --------------------------------------------------------------------------------------------
  // replication: follower side

  private onAppendEntries(
    from: NodeId,
    m: Extract<
      RaftMessage,
      { type: 'append_entries' | 'append_entries_transmission' | 'append_entries_snapshot' }
    >,
  ): void {
    if (this.readonlyPeers.has(from)) return;
    if (m.term < this.term) {
      // a deposed leader: tell it the current term. A raftdcs leader steps down on it. A pysyncobj
      // leader reads only next_node_idx/reset/success (syncobj.py, __onMessageReceived): with
      // neither reset nor success it changes only its time of our last answer, never its
      // nextIndex or matchIndex — it learns the term from the new leader's appends or votes
      this.sendNextNodeIdx(from, this.log.lastIndex + 1, false, false);
      if (this.canCampaign() && !this.members.has(from) && from !== this.selfId) {
        // ...but a leader outside our membership (the entry that adds it lies beyond our log) never
        // gets our vote requests either, so a pysyncobj leader would never learn our term and we
        // could never follow it. A vote request at our term is the one message from which it adopts
        // a term: it steps down and, its election timer long expired, campaigns at once past our term;
        // a raftdcs leader has already stepped down on the answer above. We hold our own campaign
        // for a timeout meanwhile, or it could outrun the leader's again. (Standard Raft has the
        // same effect through the answer's term.) Chaos seed 12013.
        this.outSendAfterPersist.push({
          to: from,
          message: {
            type: 'request_vote',
            term: this.term,
            lastLogIndex: this.log.lastIndex,
            lastLogTerm: this.log.lastTerm,
          },
        });
        if (this.state !== RaftState.Leader)
          this.electionDeadlineMs = this.now + this.randomElectionTimeout();
      }
      return;
    }
    if (m.term === this.term && this.state === RaftState.Leader && from !== this.selfId) {
      this.anomaly(`append_entries from ${from} in my own leadership term ${m.term}: stepping down`);
    }
    this.electionDeadlineMs = this.now + this.randomElectionTimeout();
    this.lastLeaderContactMs = this.now;
    if (m.term > this.term) this.adoptTerm(m.term);
    if (this.state !== RaftState.Follower) this.setState(RaftState.Follower);
    if (this.leaderId !== from) {
      this.failForwarded(FailReason.LeaderChanged);
      this.setLeader(from);
      this.drainWaitingLeader();
    }
    this.leaderCommitIndex = m.commitIndex;

    if (m.type === 'append_entries_snapshot') {
      this.onSnapshotChunk(from, m.serialized);
      this.checkReady();
      return;
    }
    if (this.installingSnapshot) return; // the log is about to be replaced; acknowledge afterwards

    let entries: readonly LogEntry[] = m.type === 'append_entries' ? m.entries : [];
    if (m.type === 'append_entries_transmission') {
      if (m.transmission === 'start') {
        this.transmissionBuffer = [m.data];
        this.sendNextNodeIdx(from, this.log.lastIndex + 1, false, false);
        return;
      }
      if (this.transmissionBuffer === null) {
        this.sendNextNodeIdx(from, this.log.lastIndex + 1, true, false);
        return;
      }
      this.transmissionBuffer.push(m.data);
      if (m.transmission === 'process') {
        this.sendNextNodeIdx(from, this.log.lastIndex + 1, false, false);
        return;
      }
      const buf = concat(this.transmissionBuffer);
      this.transmissionBuffer = null;
      try {
        entries = [this.opts.decodeTransmittedEntry(buf)];
      } catch {
        this.anomaly(`dropped a transmission from ${from} that does not decode (${buf.length} bytes)`);
        this.sendNextNodeIdx(from, this.log.lastIndex + 1, true, false);
        return;
      }
    }
    this.appendFromLeader(from, m.prevLogIdx, m.prevLogTerm, entries, m.commitIndex);
    this.checkReady();
  }

  private appendFromLeader(
    from: NodeId,
    prevLogIdx: number,
    prevLogTerm: number,
    entries: readonly LogEntry[],
    leaderCommit: number,
  ): void {
    const prev = this.log.get(prevLogIdx);
    if (prev === undefined) {
      // too short, or compacted away: ask from our end
      this.sendNextNodeIdx(from, this.log.lastIndex + 1, true, false);
      return;
    }
    if (prev.term !== prevLogTerm) {
      this.sendNextNodeIdx(from, this.conflictRetryIndex(prevLogIdx, prev.term), true, false);
      return;
    }
    let expected = prevLogIdx + 1;
    for (const e of entries) {
      if (e.index !== expected) {
        this.anomaly(`append_entries from ${from}: entry index ${e.index}, expected ${expected}; ignored`);
        return;
      }
      expected++;
      const existing = this.log.get(e.index);
      if (existing !== undefined) {
        if (existing.term === e.term) continue;
        invariant(
          e.index > this.commitIndex,
          () =>
            `leader ${from} conflicts with committed entry ${e.index} (term ${existing.term} vs ${e.term})`,
        );
        this.truncateLog(e.index);
      }
      this.appendEntry(e);
    }
    const lastReceived = prevLogIdx + entries.length;
    this.sendNextNodeIdx(from, lastReceived + 1, false, true);
    const newCommit = Math.min(leaderCommit, lastReceived);
    if (newCommit > this.commitIndex) this.setCommitIndex(newCommit);
    this.applyCommitted();
  }

  /**
   * Where the leader should resend from after its entry at `index` conflicts with ours (of term
   * `term`): the first index of our run of `term` entries ending there, but not below commitIndex + 1.
   * pysyncobj answers `index` and the leader then walks a divergent suffix back one entry per round
   * trip (seconds to minutes for an old leader's hundreds of uncommitted entries, and stale "too
   * short" answers to pipelined batches keep pulling it up again). Answering the start of the run
   * costs one round trip per divergent term, and our committed entries are the leader's (Leader
   * Completeness), so the retry from commitIndex + 1 at the latest matches. Resending from lower
   * is always safe: we truncate only on a real conflict, and our leader never rewinds below
   * matchIndex + 1.
   */
  private conflictRetryIndex(index: number, term: number): number {
    let i = index;
    while (i - 1 > this.commitIndex && this.log.termAt(i - 1) === term) i--;
    return i;
  }

  private onSnapshotChunk(
    from: NodeId,
    chunk: { data: Uint8Array; isFirst: boolean; isLast: boolean } | null,
  ): void {
    if (chunk === null) return; // the leader is writing its dump
    // one install at a time: a transfer arriving while a received dump is being installed is
    // ignored (the acknowledgement after the install tells the leader where to go on)
    if (this.installingSnapshot && !this.opts.unsafeTestFaults?.acceptSnapshotDuringInstall) return;
    if (chunk.isFirst) this.snapshotBuffer = [];
    if (this.snapshotBuffer === null) return; // no transfer started
    if (chunk.data.length > 0) this.snapshotBuffer.push(chunk.data);
    if (!chunk.isLast) return;
    const data = concat(this.snapshotBuffer);
    this.snapshotBuffer = null;
    this.installingSnapshot = true;
    this.outEvents.push({ type: 'snapshotReceived', data, from });
  }

  private sendNextNodeIdx(to: NodeId, nextNodeIdx: number, reset: boolean, success: boolean): void {
    this.outSendAfterPersist.push({
      to,
      message: { type: 'next_node_idx', nextNodeIdx, reset, success, term: this.term },
    });
  }

  // --------------------------------------------------------------------------------------------
  // replication: leader side

  private onNextNodeIdx(
    from: NodeId,
    nextNodeIdx: number,
    reset: boolean,
    success: boolean,
    /** the answer carries its term (a raftdcs follower's): 'termed'; else what it answers, if known */
    answered: 'termed' | SentAppend | undefined,
  ): void {
    const p = this.progress.get(from);
    if (p === undefined) return;
    const withTerm = answered === 'termed';
    p.lastResponseMs = this.now;
    if (success) {
      let acked: number;
      if (withTerm) {
        // a raftdcs follower truncates only on a conflict, never this leader's entries: it counts in full
        acked = Math.min(nextNodeIdx - 1, this.log.lastIndex);
      } else if (answered?.counts && answered.termMin === this.term && answered.termMax === this.term) {
        // A pysyncobj follower deletes every entry after prevLogIdx on each append it accepts: the
        // appends still in flight (a burst after a rewind) cut it back to their prevLogIdx one after
        // the other before it ends where the last one ends. Count only what it holds from now on
        // at every moment — a vote it grants meanwhile must not lose a counted entry.
        acked = Math.min(nextNodeIdx - 1, answered.end, this.lowestFloorInFlight(from));
      } else {
        // an answer to a past leadership's append, to a snapshot, or to nothing known: count nothing
        acked = Number.NEGATIVE_INFINITY;
      }
      if (acked > p.matchIndex) p.matchIndex = acked;
      invariant(
        p.matchIndex <= this.log.lastIndex,
        () => `${from} counted for ${p.matchIndex}, beyond the last index ${this.log.lastIndex}`,
      );
      if (withTerm && nextNodeIdx > p.nextIndex) p.nextIndex = Math.min(nextNodeIdx, this.log.lastIndex + 1);
      if (p.matchIndex >= p.nextIndex) {
        // answers to appends sent before a rewind not sent yet: never send below what is counted
        // (a Python follower would delete what it was counted for)
        p.nextIndex = p.matchIndex + 1;
        p.snapshotOffset = undefined;
      }
      // a pysyncobj 0.3.11 follower acknowledges one index short (next_node_idx = last index it
      // received): a heartbeat right away confirms that last entry instead of a period later
      if (nextNodeIdx === p.lastSentIndex && p.matchIndex < p.lastSentIndex) {
        p.forceHeartbeat = true;
        this.dirtyPeers.add(from);
      }
      if (this.members.has(from)) this.advanceLeaderCommit();
      if (this.leadershipTransfer?.target === from) this.maybeSendTimeoutNow();
    }
    if (reset) {
      if (!withTerm && nextNodeIdx <= p.matchIndex) {
        // it holds less than it was counted for: the counting above must never allow this. Count
        // it from what it holds, or the rewind clamp below would keep it behind for ever
        this.anomaly(
          `${from} (answers without a term) asks for ${nextNodeIdx} but was counted for ${p.matchIndex}: matchIndex lowered`,
        );
        p.matchIndex = Math.max(0, nextNodeIdx - 1);
      }
      const target = this.opts.unsafeTestFaults?.rewindOnEveryReset
        ? nextNodeIdx
        : Math.max(nextNodeIdx, p.matchIndex + 1);
      if (target < p.nextIndex) {
        p.nextIndex = target;
        p.snapshotOffset = undefined;
        if (this.now - p.lastRewindMs >= this.opts.appendEntriesPeriodMs) {
          p.lastRewindMs = this.now;
          this.dirtyPeers.add(from);
        }
      }
    }
  }

  // per-connection record of the appends in flight to a peer whose answers carry no term

  /** A new connection, or none: nothing sent before is answered on the next one. */
  private resetLink(peer: NodeId): void {
    this.links.delete(peer);
    // appends made for the previous connection and not handed over yet must not go out on a new one
    if (this.outSend.some((o) => o.to === peer && isAppend(o.message)))
      this.outSend = this.outSend.filter((o) => o.to !== peer || !isAppend(o.message));
  }

  private recordSent(peer: NodeId, floor: number, end: number, counts: boolean): void {
    let link = this.links.get(peer);
    if (link === undefined) {
      link = { termed: false, answeredWithoutTerm: false, sent: [] };
      this.links.set(peer, link);
    }
    if (link.termed) return;
    link.sent.push({ termMin: this.term, termMax: this.term, floor, end, answers: 1, counts });
    if (link.sent.length > MAX_TRACKED_APPENDS) {
      // a peer that stopped answering (e.g. it is in a later term and ignores this one): merge the
      // oldest two — lowest floor and end, both answers awaited, never counted
      const [a, b] = link.sent.splice(0, 2) as [SentAppend, SentAppend];
      link.sent.unshift({
        termMin: Math.min(a.termMin, b.termMin),
        termMax: Math.max(a.termMax, b.termMax),
        floor: Math.min(a.floor, b.floor),
        end: Math.min(a.end, b.end),
        answers: a.answers + b.answers,
        counts: false,
      });
    }
  }

  /**
   * A next_node_idx arrived from `peer`: with a term, the peer is a raftdcs one (nothing to track);
   * without, it answers the oldest append in flight. When answers were lost (a connection that
   * dropped messages) or appends ignored (sent in a term older than the peer's), the answer is to a
   * later one: the records left are then more than what is in flight, which only counts less.
   */
  private takeAnswer(peer: NodeId, withTerm: boolean): 'termed' | SentAppend | undefined {
    let link = this.links.get(peer);
    if (withTerm) {
      if (link === undefined) {
        link = { termed: true, answeredWithoutTerm: false, sent: [] };
        this.links.set(peer, link);
      } else if (!link.termed) {
        link.termed = true;
        link.sent.length = 0;
      }
      return 'termed';
    }
    if (link !== undefined) link.answeredWithoutTerm = true;
    const head = link?.sent[0];
    if (link === undefined || head === undefined) return undefined;
    head.answers -= 1;
    if (head.answers > 0) return undefined;
    link.sent.shift();
    return head;
  }

  /** The lowest prevLogIdx among the appends still in flight to `peer` (its log may end there for a moment). */
  private lowestFloorInFlight(peer: NodeId): number {
    let lowest = Number.POSITIVE_INFINITY;
    for (const s of this.links.get(peer)?.sent ?? []) if (s.floor < lowest) lowest = s.floor;
    return lowest;
  }

  /**
   * A vote granted for `term` leaves the peer after it processed, and answered or ignored, every
   * append sent before the request — all those of older terms: none of them is in flight any more.
   */
  private onVoteBarrier(peer: NodeId, term: number): void {
    const link = this.links.get(peer);
    if (link === undefined || link.termed) return;
    const kept = link.sent.findIndex((s) => s.termMax >= term);
    link.sent.splice(0, kept === -1 ? link.sent.length : kept);
  }

  private replicationTargets(): NodeId[] {
    const out: NodeId[] = [];
    for (const peer of this.progress.keys()) if (this.connected.has(peer)) out.push(peer);
    return out;
  }

  private flushReplication(): void {
    if (this.state !== RaftState.Leader || this.dirtyPeers.size === 0) {
      this.dirtyPeers.clear();
      return;
    }
    const peers = [...this.dirtyPeers];
    this.dirtyPeers.clear();
    for (const peer of peers) if (this.connected.has(peer)) this.replicateTo(peer, false);
  }

  /** Send `peer` everything from its nextIndex to the end of the log (a heartbeat when nothing is new). */
  private replicateTo(peer: NodeId, heartbeat: boolean): void {
    const p = this.progress.get(peer);
    if (p === undefined) return;
    const mustSend = heartbeat || p.forceHeartbeat || p.sentCommit < this.commitIndex;
    let budget = this.opts.maxSendBytesPerRound;
    let sentAny = false;
    for (;;) {
      if (p.nextIndex <= this.log.firstIndex && this.log.firstIndex > 1) {
        budget -= this.sendSnapshotChunks(peer, p, budget);
        if (p.snapshotOffset !== undefined) return; // more chunks in the next flush
        sentAny = true;
        continue;
      }
      if (p.nextIndex < 2) p.nextIndex = 2;
      const pending = p.nextIndex <= this.log.lastIndex;
      if (!pending && (sentAny || !mustSend)) return;
      if (budget <= 0) {
        this.continuePeers.add(peer); // continue at the next tick
        return;
      }
      const prevLogIdx = p.nextIndex - 1;
      const prevLogTerm = this.log.termAt(prevLogIdx);
      invariant(
        prevLogTerm !== undefined,
        () =>
          `${peer} would be sent entries after ${prevLogIdx}, outside the log [${this.log.firstIndex}, ${this.log.lastIndex}]`,
      );
      const entries = pending ? this.log.batch(p.nextIndex, this.opts.appendEntriesBatchSizeBytes) : [];
      this.outSend.push({
        to: peer,
        message: {
          type: 'append_entries',
          term: this.term,
          commitIndex: this.commitIndex,
          entries,
          prevLogIdx,
          prevLogTerm,
        },
      });
      p.sentCommit = this.commitIndex;
      p.forceHeartbeat = false;
      sentAny = true;
      this.recordSent(peer, prevLogIdx, prevLogIdx + entries.length, true);
      const lastEntry = entries.at(-1);
      if (lastEntry === undefined) return; // a heartbeat
      for (const e of entries) budget -= e.command.length + 16;
      const last = lastEntry.index;
      p.nextIndex = last + 1;
      if (last > p.lastSentIndex) p.lastSentIndex = last;
    }
  }

  /** Send snapshot chunks to `peer` within `budget` bytes; returns bytes used. */
  private sendSnapshotChunks(peer: NodeId, p: PeerProgress, budget: number): number {
    const snap = this.snapshot;
    invariant(
      snap !== null,
      () => `peer ${peer} needs entries before ${this.log.firstIndex} but no snapshot exists`,
    );
    let used = 0;
    let offset = p.snapshotOffset ?? 0;
    const chunk = this.opts.snapshotChunkBytes;
    while (used < budget) {
      const data = snap.data.subarray(offset, offset + chunk);
      const isFirst = offset === 0;
      const isLast = data.length === 0;
      this.outSend.push({
        to: peer,
        message: {
          type: 'append_entries_snapshot',
          term: this.term,
          // pysyncobj followers set their commit index from every chunk without checking their log
          // (docs/protocol.md §9.4, §12.6): never tell them more than they are known to hold
          commitIndex: Math.min(this.commitIndex, p.matchIndex),
          serialized: { data, isFirst, isLast },
        },
      });
      used += data.length + 16;
      offset += data.length;
      if (isLast) {
        // a Python follower answers the last chunk only; its log is then the dump's [prev, last]
        this.recordSent(peer, snap.lastIndex, snap.lastIndex, false);
        p.snapshotOffset = undefined;
        p.nextIndex = snap.lastIndex + 1;
        return used;
      }
    }
    p.snapshotOffset = offset;
    this.continuePeers.add(peer);
    return used;
  }

  private advanceLeaderCommit(): void {
    if (this.state !== RaftState.Leader) return;
    const acks: number[] = [this.persistedIndex];
    for (const peer of this.members) acks.push(this.progress.get(peer)?.matchIndex ?? 0);
    acks.sort((a, b) => b - a);
    // the highest index held by a majority of voters
    const majorityIndex = acks[Math.floor(acks.length / 2)];
    invariant(majorityIndex !== undefined, 'no acknowledgement to count (not even our own)');
    if (majorityIndex <= this.commitIndex) return;
    // only entries of the current term commit by counting replicas (Raft paper §5.4.2)
    const countsAsCommitted =
      this.log.termAt(majorityIndex) === this.term ||
      this.opts.unsafeTestFaults?.commitPreviousTermByCounting === true;
    if (!countsAsCommitted) return;
    this.setCommitIndex(majorityIndex);
    this.leaderCommitIndex = this.commitIndex;
    if (!this.opts.appendEntriesUseBatch)
      for (const peer of this.replicationTargets()) this.dirtyPeers.add(peer);
    this.applyCommitted();
    this.checkReady();
  }

  // --------------------------------------------------------------------------------------------
  // proposals

  private submit(cmd: QueuedCommand): void {
    if (this.state === RaftState.Leader) {
      if (this.leadershipTransfer !== null) {
        // Handing over: the target must hold our whole log before it campaigns, so the log stops
        // growing. NOT_LEADER is pysyncobj's answer of a node that will not append a command: it
        // entered no log, so a retry is safe, and every client retries it (Patroni's and our
        // KVStoreTTL retry anything but REQUEST_DENIED, which they take as final — wrong for a
        // refusal that lasts a few heartbeats). LEADER_CHANGED would say the command may have
        // been appended by a leader that is gone.
        this.fail(cmd.origin, FailReason.NotLeader);
        return;
      }
      this.appendProposal(cmd);
      return;
    }
    const { origin } = cmd;
    if (this.leaderId !== null) {
      if (origin.kind === 'remote' && origin.requestId !== undefined) {
        this.replyError(origin.peer, origin.requestId, FailReason.NotLeader);
        return;
      }
      this.forward(cmd);
      return;
    }
    if (this.opts.commandsWaitLeader) {
      if (this.waitingLeader.length >= this.opts.commandsQueueSize) {
        this.fail(origin, FailReason.QueueFull);
        return;
      }
      this.waitingLeader.push(cmd);
      return;
    }
    this.fail(origin, FailReason.MissingLeader);
  }

  private drainWaitingLeader(): void {
    if (this.waitingLeader.length === 0 || this.leaderId === null) return;
    const queued = this.waitingLeader.splice(0);
    for (const cmd of queued) this.submit(cmd);
  }

  private forward(cmd: QueuedCommand): void {
    const leader = this.leaderId as NodeId;
    const ref = cmd.origin.kind === 'local' ? cmd.origin.ref : null;
    if (ref === null) {
      this.outSend.push({ to: leader, message: { type: 'apply_command', command: cmd.command } });
      return;
    }
    this.requestCounter += 1;
    this.forwarded.set(this.requestCounter, ref);
    this.outSend.push({
      to: leader,
      message: { type: 'apply_command', command: cmd.command, requestId: this.requestCounter },
    });
  }

  private appendProposal(cmd: QueuedCommand): void {
    if (this.log.lastIndex - this.commitIndex >= this.opts.commandsQueueSize) {
      this.fail(cmd.origin, FailReason.QueueFull);
      return;
    }
    if (cmd.command.length === 0) {
      this.fail(cmd.origin, FailReason.RequestDenied);
      return;
    }
    if (cmd.command[0] === CommandType.Membership && this.opts.dynamicMembershipChange) {
      const change = this.decodeMembershipSafely(cmd.command);
      if (change === null || !this.membershipChangeAllowed(change)) {
        this.fail(cmd.origin, FailReason.RequestDenied);
        return;
      }
    }
    const entry = this.appendOwn(cmd.command);
    const { origin } = cmd;
    if (origin.kind === 'local') {
      if (origin.ref !== null) {
        this.outProposals.push({ ref: origin.ref, kind: 'assigned', index: entry.index, term: entry.term });
      }
    } else if (origin.requestId !== undefined) {
      this.outSend.push({
        to: origin.peer,
        message: {
          type: 'apply_command_response',
          requestId: origin.requestId,
          logIdx: entry.index,
          logTerm: entry.term,
        },
      });
    }
    if (!this.opts.appendEntriesUseBatch)
      for (const peer of this.replicationTargets()) this.dirtyPeers.add(peer);
  }

  private membershipChangeAllowed(change: MembershipChange): boolean {
    if (this.lastApplied < this.noopIndex) return false; // own no-op not applied yet
    // one uncommitted membership change at a time
    for (const e of this.log.slice(this.commitIndex + 1))
      if (e.command[0] === CommandType.Membership) return false;
    if (change.op === 'add') return change.node !== this.selfId && !this.members.has(change.node);
    return change.node !== this.selfId && this.members.has(change.node);
  }

  private onApplyCommandResponse(m: Extract<RaftMessage, { type: 'apply_command_response' }>): void {
    const ref = this.forwarded.get(m.requestId);
    if (ref === undefined) return;
    this.forwarded.delete(m.requestId);
    if ('error' in m) {
      const reason = isFailReason(m.error) ? m.error : FailReason.RequestDenied;
      this.outProposals.push({ ref, kind: 'failed', reason });
      return;
    }
    this.outProposals.push({ ref, kind: 'assigned', index: m.logIdx, term: m.logTerm });
  }

  private failForwarded(reason: FailReason): void {
    if (this.forwarded.size === 0) return;
    const ids = [...this.forwarded.keys()].sort((a, b) => a - b);
    for (const id of ids)
      this.outProposals.push({ ref: this.forwarded.get(id) as ProposalRef, kind: 'failed', reason });
    this.forwarded.clear();
  }

  private fail(origin: Origin, reason: FailReason): void {
    if (origin.kind === 'local') {
      if (origin.ref !== null) this.outProposals.push({ ref: origin.ref, kind: 'failed', reason });
    } else if (origin.requestId !== undefined) {
      this.replyError(origin.peer, origin.requestId, reason);
    }
  }

  private replyError(peer: NodeId, requestId: number, error: FailReason): void {
    this.outSend.push({ to: peer, message: { type: 'apply_command_response', requestId, error } });
  }

  // --------------------------------------------------------------------------------------------
  // log, membership, commit, apply

  private appendOwn(command: Uint8Array): LogEntry {
    const entry: LogEntry = { command, index: this.log.lastIndex + 1, term: this.term };
    this.appendEntry(entry);
    return entry;
  }

  private appendEntry(entry: LogEntry): void {
    if (this.opts.dynamicMembershipChange && entry.command[0] === CommandType.Membership) {
      // membership takes effect on append; the leader's new peer must receive this very entry
      this.log.append(entry);
      this.applyMembershipEntry(entry, false, true);
    } else {
      this.log.append(entry);
    }
    if (entry.index < this.outDirtyFrom) this.outDirtyFrom = entry.index;
  }

  private truncateLog(from: number): void {
    invariant(this.state !== RaftState.Leader, () => `a leader never truncates its log (at ${from})`);
    invariant(from > this.commitIndex, () => `truncating committed entries from ${from}`);
    const removed = this.log.truncateFrom(from);
    if (this.opts.dynamicMembershipChange) {
      for (const e of removed.reverse()) this.applyMembershipEntry(e, true, true);
    }
    if (this.persistedIndex >= from) this.persistedIndex = from - 1;
    if (this.outTruncateFrom === undefined || from < this.outTruncateFrom) this.outTruncateFrom = from;
    if (from < this.outDirtyFrom) this.outDirtyFrom = from;
  }

  private applyMembershipEntry(entry: LogEntry, reverse: boolean, emit: boolean): void {
    if (entry.command[0] !== CommandType.Membership) return;
    const change = this.decodeMembershipSafely(entry.command);
    if (change === null) {
      if (emit) this.anomaly(`membership entry ${entry.index} does not decode; ignored`);
      return;
    }
    const adding = change.op === 'add' ? !reverse : reverse;
    const node = change.node;
    if (node === this.selfId) {
      this.selfRemoved = !adding;
      if (emit) this.outEvents.push({ type: 'membershipChanged', change, members: [...this.members] });
      return;
    }
    if (adding) {
      if (this.members.has(node)) return;
      this.members.add(node);
      if (this.state === RaftState.Leader) {
        const fresh = this.freshProgress();
        fresh.nextIndex = entry.index; // the new node also needs the entry that adds it
        this.progress.set(node, fresh);
      }
    } else {
      if (!this.members.delete(node)) return;
      this.progress.delete(node);
      this.votes.delete(node);
    }
    if (emit) {
      this.outEvents.push({
        type: 'membershipChanged',
        change: { op: adding ? 'add' : 'rem', node },
        members: [...this.members],
      });
    }
  }

  private decodeMembershipSafely(command: Uint8Array): MembershipChange | null {
    try {
      return this.opts.decodeMembership(command);
    } catch {
      return null;
    }
  }

  private setCommitIndex(index: number): void {
    invariant(
      index >= this.commitIndex,
      () => `commit index would decrease from ${this.commitIndex} to ${index}`,
    );
    invariant(
      index <= this.log.lastIndex,
      () => `commit index ${index} beyond last index ${this.log.lastIndex}`,
    );
    this.commitIndex = index;
  }

  /** Hand committed and locally persisted entries to the state machine, in order. */
  private applyCommitted(): void {
    const upTo = Math.min(this.commitIndex, this.persistedIndex);
    if (upTo <= this.lastApplied) return;
    for (const e of this.log.slice(this.lastApplied + 1, upTo)) this.outApply.push(e);
    this.lastApplied = upTo;
    invariant(
      this.lastApplied <= this.commitIndex,
      () => `applied ${this.lastApplied} beyond commit ${this.commitIndex}`,
    );
    this.checkReady();
  }

  private checkReady(): void {
    if (this.readyFired) return;
    if (this.state === RaftState.Leader) this.leaderCommitIndex = this.commitIndex;
    if (this.leaderCommitIndex !== null && this.lastApplied >= this.leaderCommitIndex) {
      this.readyFired = true;
      this.outEvents.push({ type: 'ready' });
    }
  }

  // --------------------------------------------------------------------------------------------
  // small helpers

  private adoptTerm(term: number): void {
    invariant(term > this.term, () => `term would go from ${this.term} to ${term}`);
    this.term = term;
    this.votedFor = null;
    this.markHardState();
    if (this.state !== RaftState.Follower) this.setState(RaftState.Follower);
    this.setLeader(null);
  }

  private setState(to: RaftState): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    if (from === RaftState.Leader) {
      this.progress.clear();
      this.dirtyPeers.clear();
      this.continuePeers.clear();
      // the transfer ends with the leadership; whether the target took over shows in leaderChanged
      this.leadershipTransfer = null;
    }
    this.outEvents.push({ type: 'stateChanged', from, to, term: this.term });
  }

  private setLeader(leader: NodeId | null): void {
    if (this.leaderId === leader) return;
    this.leaderId = leader;
    this.outEvents.push({ type: 'leaderChanged', leader, term: this.term });
  }

  private markHardState(): void {
    if (!this.opts.unsafeTestFaults?.skipPersistHardState) this.outHardStateDirty = true;
  }

  private anomaly(message: string): void {
    this.outEvents.push({ type: 'anomaly', message });
  }

  private randomElectionTimeout(): number {
    const { electionTimeoutMinMs: min, electionTimeoutMaxMs: max } = this.opts;
    return min + (max - min) * this.opts.random();
  }

  private advanceClock(nowMs: number): void {
    if (nowMs > this.now) this.now = nowMs;
  }
}

function pysyncobjTargetMessage(target: NodeId): string {
  return `the target ${target} is a pysyncobj node (Patroni or patroni_raft_controller), which cannot take over on request`;
}

function isAppend(m: RaftMessage): boolean {
  return (
    m.type === 'append_entries' ||
    m.type === 'append_entries_transmission' ||
    m.type === 'append_entries_snapshot'
  );
}

function isFailReason(x: number): x is FailReason {
  return Number.isInteger(x) && x >= 0 && x <= 6;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const first = parts[0];
  if (parts.length === 1 && first !== undefined) return first;
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
