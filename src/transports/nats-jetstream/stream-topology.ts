import { nanos } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { ArgumentError } from '../../core/errors.js';
import type { ResolvedNatsJetStreamConfig } from './config.js';
import { consumerNameFor, streamNameFor, streamSubjectFor } from './naming.js';

/** JetStream API error codes this module reacts to (JetStream's `err_code`). */
const STREAM_NAME_IN_USE = 10058;
const SUBJECTS_OVERLAP = 10065;
/** Rounds of create/update before giving up when other processes change the same stream at once. */
const MAX_ROUNDS = 5;

/** True for a JetStream API error with one of `codes`. */
export function isApiError(error: unknown, ...codes: number[]): boolean {
  return error instanceof JetStreamApiError && codes.includes(error.code);
}

/**
 * Creates streams and consumers on demand, as the README's mapping says. The stream of a
 * topic is looked up once per topic and cached; {@link forget} drops the cache entry when the
 * stream turned out to be gone (a broker restarted without its data).
 */
export class StreamTopology {
  readonly #jsm: JetStreamManager;
  readonly #config: ResolvedNatsJetStreamConfig;
  readonly #streams = new Map<string, Promise<string>>();

  constructor(jsm: JetStreamManager, config: ResolvedNatsJetStreamConfig) {
    this.#jsm = jsm;
    this.#config = config;
  }

  /**
   * The name of the stream that captures `topic`: an existing stream whose subjects match it
   * (whoever created it), else the family stream, created or given the missing subject.
   */
  streamFor(topic: string): Promise<string> {
    let stream = this.#streams.get(topic);
    if (stream === undefined) {
      stream = this.#resolveStream(topic);
      this.#streams.set(topic, stream);
      stream.catch(() => {
        if (this.#streams.get(topic) === stream) this.#streams.delete(topic);
      });
    }
    return stream;
  }

  /** Drops what {@link streamFor} remembered for `topic`, so the next call looks again. */
  forget(topic: string): void {
    this.#streams.delete(topic);
  }

  /**
   * The durable pull consumer of `group` on `topic` (see `consumerNameFor`): created when
   * missing, with `ack_wait` and `max_ack_pending` brought to this configuration when they
   * differ. Throws {@link ArgumentError} when the name is taken by a consumer of another topic.
   */
  async consumerFor(topic: string, group: string): Promise<ConsumerInfo> {
    const stream = await this.streamFor(topic);
    const name = consumerNameFor(group, topic);
    const wanted = this.#consumerConfig(name, topic);
    let existing: ConsumerInfo | undefined;
    try {
      existing = await this.#jsm.consumers.info(stream, name);
    } catch (error) {
      if (isApiError(error, JetStreamApiCodes.StreamNotFound)) this.forget(topic);
      if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
    }
    if (existing === undefined) return this.#jsm.consumers.add(stream, wanted);
    if (existing.config.filter_subject !== topic) {
      // `consumers.add` would silently re-point that consumer to this topic: refuse instead.
      throw new ArgumentError('group', group, `a group whose consumer name ${name} on stream ${stream} is not already used for ${existing.config.filter_subject ?? 'another topic'}`);
    }
    if (existing.config.ack_wait === wanted.ack_wait && existing.config.max_ack_pending === wanted.max_ack_pending) return existing;
    return this.#jsm.consumers.update(stream, name, { ack_wait: wanted.ack_wait, max_ack_pending: wanted.max_ack_pending });
  }

  /**
   * The durable consumer of `group` on `topic` as the server reports it now (counts included), or
   * undefined when it or its stream does not exist, or when its name belongs to a consumer of
   * another topic. Creates nothing. One request once the topic's stream is known.
   */
  async existingConsumer(topic: string, group: string): Promise<ConsumerInfo | undefined> {
    const stream = await this.#existingStream(topic);
    if (stream === undefined) return undefined;
    try {
      const info = await this.#jsm.consumers.info(stream, consumerNameFor(group, topic));
      return info.config.filter_subject === topic ? info : undefined;
    } catch (error) {
      if (isApiError(error, JetStreamApiCodes.StreamNotFound)) {
        this.forget(topic);
        return undefined;
      }
      if (isApiError(error, JetStreamApiCodes.ConsumerNotFound)) return undefined;
      throw error;
    }
  }

  /** The stream {@link streamFor} knows for `topic`, else the one capturing it now (remembered), else undefined. */
  async #existingStream(topic: string): Promise<string | undefined> {
    const known = this.#streams.get(topic);
    if (known !== undefined) return known;
    let name: string;
    try {
      name = await this.#jsm.streams.find(topic);
    } catch (error) {
      if (isApiError(error, JetStreamApiCodes.StreamNotFound)) return undefined;
      throw error;
    }
    if (!this.#streams.has(topic)) this.#streams.set(topic, Promise.resolve(name));
    return name;
  }

  async #resolveStream(topic: string): Promise<string> {
    try {
      return await this.#jsm.streams.find(topic);
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    }
    const name = streamNameFor(topic, this.#config.streamPrefix);
    let subject = streamSubjectFor(topic);
    for (let round = 0; round < MAX_ROUNDS; round += 1) {
      try {
        const info = await this.#streamInfo(name);
        if (info === undefined) await this.#jsm.streams.add(this.#streamConfig(name, subject));
        else if (!info.config.subjects.includes(subject)) {
          const updated = await this.#jsm.streams.update(name, { subjects: [...info.config.subjects, subject] });
          // Another process may have updated the subjects at the same moment: check ours stuck.
          if (!updated.config.subjects.includes(subject)) continue;
        }
        return name;
      } catch (error) {
        if (isApiError(error, STREAM_NAME_IN_USE)) continue; // created by another process meanwhile
        if (isApiError(error, SUBJECTS_OVERLAP) && subject !== topic) {
          // Another stream already captures part of the family: capture this topic alone.
          subject = topic;
          continue;
        }
        throw error;
      }
    }
    return this.#jsm.streams.find(topic);
  }

  async #streamInfo(name: string): Promise<StreamInfo | undefined> {
    try {
      return await this.#jsm.streams.info(name);
    } catch (error) {
      if (isApiError(error, JetStreamApiCodes.StreamNotFound)) return undefined;
      throw error;
    }
  }

  /** Limits retention (several groups each read everything), no size or count limit. */
  #streamConfig(name: string, subject: string): Partial<StreamConfig> & { name: string } {
    const config = this.#config;
    return {
      name,
      subjects: [subject],
      description: 'datasync topics of one subject family',
      retention: RetentionPolicy.Limits,
      storage: config.storage === 'memory' ? StorageType.Memory : StorageType.File,
      discard: DiscardPolicy.Old,
      max_msgs: -1,
      max_bytes: -1,
      max_age: config.maxAgeMs === undefined ? 0 : nanos(config.maxAgeMs),
      duplicate_window: nanos(config.duplicateWindowMs),
      num_replicas: config.replicas,
    };
  }

  #consumerConfig(name: string, topic: string): Partial<ConsumerConfig> & { ack_wait: number; max_ack_pending: number } {
    return {
      durable_name: name,
      filter_subject: topic,
      ack_policy: AckPolicy.Explicit,
      // A group created after events were published still gets them, as a Redis group from 0 does.
      deliver_policy: DeliverPolicy.All,
      replay_policy: ReplayPolicy.Instant,
      ack_wait: nanos(this.#config.processingTimeoutMs),
      max_ack_pending: this.#config.maxAckPending,
      max_deliver: -1,
    };
  }
}
