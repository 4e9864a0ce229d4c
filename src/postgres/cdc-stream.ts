import type pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin, type Pgoutput } from 'pg-logical-replication';
import type { CloudEvent } from '../core/envelope.js';

/** An outbox row as the slot delivers it (the columns the relay needs). */
export interface OutboxChange {
  /** `outbox.id`, as text. */
  readonly id: string;
  /** `outbox.xid` (xid8), as text. */
  readonly xid: string;
  readonly topic: string;
  readonly envelope: CloudEvent;
}

/**
 * What the stream delivers, in commit order: the inserted outbox rows of a transaction,
 * then its `commit` (with the LSN to acknowledge once they are published), and the
 * relay's own position markers (non-transactional logical messages).
 */
export type OutboxStreamEvent =
  | { readonly kind: 'insert'; readonly row: OutboxChange }
  | { readonly kind: 'commit'; readonly endLsn: bigint }
  | { readonly kind: 'message'; readonly lsn: bigint; readonly prefix: string; readonly content: string };

/** Options of {@link OutboxStream.open}. */
export interface OutboxStreamOptions {
  /** Connection of the replication session (`replication: 'database'` is added). */
  readonly clientConfig: pg.ClientConfig;
  readonly schema: string;
  readonly slot: string;
  readonly publication: string;
  /** The slot's `confirmed_flush_lsn`: streaming starts there. */
  readonly confirmedLsn: bigint;
  /** Awaited for each event in stream order; the stream is paused meanwhile (backpressure). A throw ends the stream. */
  readonly onEvent: (event: OutboxStreamEvent) => Promise<void> | void;
}

/** `X/Y` (hex) → bigint. */
export function parseLsn(text: string): bigint {
  const [high, low] = text.split('/');
  if (high === undefined || low === undefined) throw new Error(`not an LSN: ${text}`);
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/** bigint → `X/Y`, as PostgreSQL prints an LSN. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/**
 * One replication session on a slot, through `pg-logical-replication` (pgoutput, protocol
 * version 1: a transaction arrives whole, after its commit, in commit order).
 *
 * What it hides of the library: automatic acknowledgement and its periodic status timer
 * are off (that timer reports the last *received* LSN as flushed, which would let the slot
 * skip events not yet published); its flow control pauses the socket while `onEvent`
 * runs; and `acknowledge(lsn)` reports `lsn + 1` as flushed, so {@link confirm} passes
 * `lsn - 1` to report exactly the commit end LSN, as PostgreSQL's own subscriber does:
 * the next transaction's commit record may start at that very LSN and must not be skipped.
 */
export class OutboxStream {
  readonly #service: LogicalReplicationService;
  readonly #options: OutboxStreamOptions;
  readonly #ended: Promise<void>;
  #fail!: (error: Error) => void;
  #finish!: () => void;
  #confirmed: bigint;
  #closing: Promise<void> | undefined;

  private constructor(options: OutboxStreamOptions) {
    this.#options = options;
    this.#confirmed = options.confirmedLsn;
    this.#ended = new Promise<void>((resolve, reject) => {
      this.#finish = resolve;
      this.#fail = reject;
    });
    this.#ended.catch(() => undefined);
    this.#service = new LogicalReplicationService(options.clientConfig, {
      acknowledge: { auto: false, timeoutSeconds: 0 },
      flowControl: { enabled: true },
    });
  }

  /**
   * Starts streaming from the slot's confirmed position. Resolves once the server
   * streams; rejects with the server's error (e.g. code 55006 while another session
   * still holds the slot, 42704 when the slot does not exist).
   */
  static async open(options: OutboxStreamOptions): Promise<OutboxStream> {
    const stream = new OutboxStream(options);
    await stream.#start();
    return stream;
  }

  /** Settles when the session ends: resolves after {@link close}, rejects with the reason otherwise. */
  get ended(): Promise<void> {
    return this.#ended;
  }

  /**
   * Tells the server that everything before `lsn` is done (`confirmed_flush_lsn`), so
   * the slot will not send it again and PostgreSQL may recycle that WAL. Never moves back.
   */
  confirm(lsn: bigint): void {
    if (lsn > this.#confirmed) this.#confirmed = lsn;
    this.keepAlive();
  }

  /** Sends a status update with the confirmed position (the server ends sessions silent for `wal_sender_timeout`). */
  keepAlive(): void {
    if (this.#confirmed <= 0n || this.#closing) return;
    this.#service.acknowledge(formatLsn(this.#confirmed - 1n)).catch(() => undefined);
  }

  /** Ends the session; unconfirmed events are sent again to the next session. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      // a dead socket may never confirm the end
      await Promise.race([this.#service.destroy().catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, 2_000)))]);
      clearTimeout(timer);
      this.#finish();
    })();
    return this.#closing;
  }

  async #start(): Promise<void> {
    const { schema, slot, publication, confirmedLsn } = this.#options;
    this.#service.on('data', (_lsn: string, message: Pgoutput.Message) => this.#deliver(message));
    this.#service.on('heartbeat', (_lsn: string, _time: number, shouldRespond: boolean) => {
      if (shouldRespond) this.keepAlive();
    });
    this.#service.on('error', (error: Error) => this.#fail(error));
    const started = new Promise<void>((resolve) => this.#service.once('start', () => resolve()));
    const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication], messages: true });
    this.#service.subscribe(plugin, slot, formatLsn(confirmedLsn)).then(
      () => {
        if (!this.#closing) this.#fail(new Error(`the server ended replication from slot ${slot} (schema ${schema})`));
      },
      (error: unknown) => this.#fail(error instanceof Error ? error : new Error(String(error))),
    );
    try {
      await Promise.race([started, this.#ended]);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async #deliver(message: Pgoutput.Message): Promise<void> {
    if (this.#closing) return;
    const event = this.#decode(message);
    if (event) await this.#options.onEvent(event);
  }

  #decode(message: Pgoutput.Message): OutboxStreamEvent | undefined {
    switch (message.tag) {
      case 'insert': {
        if (message.relation.schema !== this.#options.schema || message.relation.name !== 'outbox') return undefined;
        const row = message.new as { id: unknown; xid: unknown; topic: unknown; envelope: unknown };
        // pg's global type parsers decode the text values; an application may have changed them.
        const envelope = (typeof row.envelope === 'string' ? JSON.parse(row.envelope) : row.envelope) as CloudEvent;
        return { kind: 'insert', row: { id: String(row.id), xid: String(row.xid), topic: String(row.topic), envelope } };
      }
      case 'commit':
        return { kind: 'commit', endLsn: parseLsn(message.commitEndLsn!) };
      case 'message':
        if (message.transactional || !message.messageLsn) return undefined;
        return { kind: 'message', lsn: parseLsn(message.messageLsn), prefix: message.prefix, content: Buffer.from(message.content).toString('utf8') };
      default:
        return undefined;
    }
  }
}
