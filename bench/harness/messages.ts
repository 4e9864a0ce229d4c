import type { BenchContext, SystemName } from './system.js';

/**
 * The IPC protocol between the bench parent and its child processes (Node's
 * `advanced` serialization, so typed arrays travel as they are).
 */

/** Parent → any child, first message. */
export interface InitMessage {
  readonly type: 'init';
  readonly system: SystemName;
  readonly ctx: BenchContext;
  /** Producer only: size of its connection pool. */
  readonly connections?: number;
  /** Producer only: this process sends the events whose `seq % shardCount === shardIndex`. */
  readonly shardIndex?: number;
  readonly shardCount?: number;
  /** Producer only: number of distinct product ids. */
  readonly products?: number;
}

/** Parent → producer: run the schedule. */
export interface StartMessage {
  readonly type: 'start';
  /** Events per second. */
  readonly rate: number;
  readonly durationMs: number;
  /** Bench-clock epoch ms of the first intended send. */
  readonly startAtMs: number;
  /** Events intended before this (the warm-up) are sent but left out of the producer's latencies. */
  readonly measureFromMs: number;
}

/** Parent → consumer: send the samples recorded so far. */
export interface CollectMessage {
  readonly type: 'collect';
}

/** Parent → producer: stop scheduling, drop the sends still queued, report when the active ones settle. */
export interface FinishMessage {
  readonly type: 'finish';
}

/** Parent → any child: close everything and exit. */
export interface StopMessage {
  readonly type: 'stop';
}

export type ParentMessage = InitMessage | StartMessage | FinishMessage | CollectMessage | StopMessage;

/** Child → parent: initialized and warmed up, waiting. */
export interface ReadyMessage {
  readonly type: 'ready';
  /** `SHOW synchronous_commit` on the child's connections, when it has any that commit. */
  readonly synchronousCommit?: string;
}

/** Producer → parent, a few times a second and once at the end. */
export interface ProducerProgress {
  readonly type: 'producer-progress';
  /** Events whose transaction committed. */
  readonly sent: number;
  /** Transactions that failed (the event was not written). */
  readonly failed: number;
  /** Sends started but not yet settled, including those queued for a connection. */
  readonly inFlight: number;
}

/** Producer → parent, once the schedule ended and every send settled. */
export interface ProducerDone {
  readonly type: 'producer-done';
  /** Events of the schedule this producer process was responsible for. */
  readonly scheduled: number;
  readonly sent: number;
  readonly failed: number;
  /** Due sends dropped from the queue by `finish` (never attempted). */
  readonly abandoned: number;
  readonly firstError?: string;
  /** Intended send time → owner commit, per committed event intended after `measureFromMs`, ms. */
  readonly commitLatencies: Float64Array;
  /** Largest delay between an event's intended time and the moment the producer started it, ms. */
  readonly maxDispatchLagMs: number;
}

/** Consumer → parent, a few times a second. */
export interface ConsumerProgress {
  readonly type: 'consumer-progress';
  /** Distinct events (by seq) whose transaction committed. */
  readonly applied: number;
  /** Events committed a second time (redeliveries that were not absorbed before the hook). */
  readonly duplicates: number;
}

/** Consumer → parent, answering `collect`. */
export interface ConsumerSamples {
  readonly type: 'consumer-samples';
  readonly applied: number;
  readonly duplicates: number;
  /** Per distinct event, in commit order: intended send time and consumer commit time, bench-clock epoch ms. */
  readonly intendedAtMs: Float64Array;
  readonly committedAtMs: Float64Array;
}

/** Any child → parent: a failure that ends the run. */
export interface ChildError {
  readonly type: 'error';
  readonly message: string;
}

export type ChildMessage = ReadyMessage | ProducerProgress | ProducerDone | ConsumerProgress | ConsumerSamples | ChildError;
