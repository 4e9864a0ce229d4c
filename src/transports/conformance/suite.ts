import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, type TestContext } from 'vitest';
import { createEnvelope, parseEnvelope, type CloudEvent } from '../../core/envelope.js';
import type { Delivery, Transport, TransportCapabilities } from '../transport.js';

/** What the suite passes to a transport's factory, so redelivery happens within a test. */
export interface ConformanceFactoryOptions {
  /**
   * How long a delivery may stay unacked, once its member stopped keeping it, before another
   * member gets it (Redis: `processingTimeoutMs`). A transport without such a timeout ignores it.
   */
  readonly processingTimeoutMs: number;
}

/**
 * The flags of the contract's {@link TransportCapabilities}, plus what only the suite asks about.
 * Declare them honestly: a `false` flag skips its case, a `true` flag is tested.
 */
export interface ConformanceCapabilities extends TransportCapabilities {
  /** A group created after events were published still receives them (Redis: `XGROUP CREATE … 0`). */
  readonly replaysForNewGroups: boolean;
}

/** How a transport's test file applies the suite; see docs/transports.md, "Conformance suite". */
export interface DescribeTransportOptions {
  /** Shown in the test names. */
  readonly name: string;
  /**
   * A new connection to the transport's broker. Each case opens one, except the restart case,
   * which opens a second that must reach the same broker.
   */
  readonly create: (options: ConformanceFactoryOptions) => Transport | Promise<Transport>;
  readonly capabilities: ConformanceCapabilities;
  /**
   * Restarts the broker process (a real stop and start, data kept); resolves once it accepts
   * connections again. Without it the restart case is skipped.
   */
  readonly restartBroker?: () => Promise<void>;
  /** Passed to `create`; default 500 ms. */
  readonly processingTimeoutMs?: number;
  /** Longest wait of any one condition, and the timeout of each case; default 20000 ms. */
  readonly timeoutMs?: number;
}

/** How many copies of each case run in parallel: `STRESS=10` runs ten (the restart case runs once). */
const STRESS = Math.max(1, Number(process.env.STRESS ?? '1') || 1);

type TestFunction = (name: string, body: (context: TestContext) => Promise<void>, timeout?: number) => void;

/**
 * `test`, but under `STRESS=n` the body runs n times in parallel, each copy on its own
 * connection, topics and groups, and the timeout grows n-fold.
 */
function stressed(test: TestFunction): TestFunction {
  return (name, body, timeout) =>
    test(
      STRESS > 1 ? `${name} (STRESS: ${STRESS} in parallel)` : name,
      async (context) => {
        await Promise.all(Array.from({ length: STRESS }, () => body(context)));
      },
      timeout === undefined ? undefined : timeout * STRESS,
    );
}

interface Probe {
  readonly seq: number;
  readonly key: string;
}

/** Polls `check` every 10 ms until it holds; fails naming `what` after `timeoutMs`. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, progress?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${progress ? ` (${progress()})` : ''}`);
    await sleep(10);
  }
}

function uniqueName(prefix: string): string {
  return `conf_${prefix}_${randomBytes(5).toString('hex')}`;
}

function probeEvent(topic: string, seq: number, key = `k${seq % 5}`, extra: { traceparent?: string; tracestate?: string } = {}): CloudEvent<Probe> {
  return createEnvelope({ topic, version: 1, source: 'conformance', data: { seq, key }, subject: key, partitionKey: key, ...extra });
}

const probeOf = (delivery: Delivery): Probe => parseEnvelope(delivery.body).data as Probe;
/** Event ids, parsed once per delivery: the polls below look at every delivery many times. */
const eventIds = new WeakMap<Delivery, string>();
function idOf(delivery: Delivery): string {
  let id = eventIds.get(delivery);
  if (id === undefined) {
    id = parseEnvelope(delivery.body).id;
    eventIds.set(delivery, id);
  }
  return id;
}

/**
 * Registers the transport conformance suite (Watermill's universal pub/sub tests, ported to
 * the {@link Transport} contract) under `describe(options.name)`. Cases whose capability flag
 * is false are skipped with the reason in their title.
 */
export function describeTransport(options: DescribeTransportOptions): void {
  const { capabilities } = options;
  const processingTimeoutMs = options.processingTimeoutMs ?? 500;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const caseTimeout = timeoutMs + 10_000;

  describe(`${options.name} transport conformance`, () => {
    const transports: Transport[] = [];
    const controllers: AbortController[] = [];
    const readers: Promise<void>[] = [];

    afterEach(async () => {
      for (const controller of controllers.splice(0)) controller.abort();
      await Promise.all(transports.splice(0).map((transport) => transport.close()));
      await Promise.allSettled(readers.splice(0));
    });

    async function open(): Promise<Transport> {
      const transport = await options.create({ processingTimeoutMs });
      transports.push(transport);
      return transport;
    }

    /** One member of `group`, pulling in the background; `handle` runs for each delivery before the next pull. */
    function member(transport: Transport, topic: string, group: string, handle?: (delivery: Delivery) => Promise<void>, batchSize?: number) {
      const controller = new AbortController();
      controllers.push(controller);
      const received: Delivery[] = [];
      const deliveries = transport.subscriber.subscribe(topic, { group, consumer: uniqueName(group), signal: controller.signal, batchSize });
      const finished = (async () => {
        for await (const delivery of deliveries) {
          received.push(delivery);
          await handle?.(delivery);
        }
      })();
      readers.push(finished);
      return { received, finished, controller };
    }

    /**
     * Lets each of `groups` exist before the case publishes to `topic`, through the contract's
     * optional `declareGroup` (RabbitMQ: a queue keeps only what was published after it existed).
     */
    async function prepare(transport: Transport, topic: string, ...groups: string[]): Promise<void> {
      for (const group of groups) await transport.declareGroup?.(topic, group);
    }

    const ackEach = (delivery: Delivery): Promise<void> => delivery.ack();
    const distinctIds = (deliveries: readonly Delivery[]): Set<string> => new Set(deliveries.map(idOf));

    /** Publishes 1,000 events in batches with per-batch metadata; one member gets them all intact. */
    async function publishSubscribeRound(): Promise<void> {
      const transport = await open();
      const topic = uniqueName('pubsub');
      const events = Array.from({ length: 1_000 }, (_, i) => probeEvent(topic, i));
      const group = uniqueName('g');
      await prepare(transport, topic, group);
      const reader = member(transport, topic, group, ackEach);
      for (let i = 0; i < events.length; i += 100) {
        await transport.publisher.publish(topic, events.slice(i, i + 100), { metadata: { batch: String(i / 100), tenant: 'acme' } });
      }
      await waitFor('1,000 distinct events', () => distinctIds(reader.received).size === events.length, timeoutMs, () => `${distinctIds(reader.received).size} distinct in ${reader.received.length} deliveries`);

      const firstById = new Map<string, Delivery>();
      for (const delivery of reader.received) if (!firstById.has(idOf(delivery))) firstById.set(idOf(delivery), delivery);
      events.forEach((event, i) => {
        const delivery = firstById.get(event.id)!;
        expect(parseEnvelope(delivery.body)).toEqual(event);
        expect(delivery.metadata).toEqual({ batch: String(Math.floor(i / 100)), tenant: 'acme' });
        expect(delivery.topic).toBe(topic);
        expect(delivery.attempt).toBeGreaterThanOrEqual(1);
      });
    }

    it('declares the capabilities it reports', async () => {
      const transport = await open();
      const { replaysForNewGroups: _suiteOnly, ...contractFlags } = capabilities;
      expect(transport.capabilities).toEqual(contractFlags);
    });

    stressed(it)('publishes and subscribes 1,000 events with bodies and metadata intact', publishSubscribeRound, caseTimeout);

    stressed(it)('keeps topics apart: a subscriber of A never sees B', async () => {
      const transport = await open();
      const topicA = uniqueName('topic_a');
      const topicB = uniqueName('topic_b');
      const eventsB = Array.from({ length: 50 }, (_, i) => probeEvent(topicB, i));
      const eventsA = Array.from({ length: 50 }, (_, i) => probeEvent(topicA, i));
      const group = uniqueName('g');
      await prepare(transport, topicA, group);
      await prepare(transport, topicB, group);
      // B first: anything leaking from B would arrive before A is complete.
      await transport.publisher.publish(topicB, eventsB);
      await transport.publisher.publish(topicA, eventsA);
      const readerA = member(transport, topicA, group, ackEach);
      const readerB = member(transport, topicB, group, ackEach);
      await waitFor('all of A', () => distinctIds(readerA.received).size === eventsA.length, timeoutMs);
      await waitFor('all of B', () => distinctIds(readerB.received).size === eventsB.length, timeoutMs);
      expect(distinctIds(readerA.received)).toEqual(new Set(eventsA.map((e) => e.id)));
      expect(distinctIds(readerB.received)).toEqual(new Set(eventsB.map((e) => e.id)));
      expect(readerA.received.every((d) => d.topic === topicA)).toBe(true);
    }, caseTimeout);

    describe('consumer groups', () => {
      const skip = !capabilities.consumerGroups;
      const reason = skip ? ' (skipped: consumerGroups is false)' : '';

      stressed(it.skipIf(skip))(`gives each of two groups every event${reason}`, async () => {
        const transport = await open();
        const topic = uniqueName('groups');
        const events = Array.from({ length: 100 }, (_, i) => probeEvent(topic, i));
        const [searchGroup, analyticsGroup] = [uniqueName('search'), uniqueName('analytics')];
        await prepare(transport, topic, searchGroup, analyticsGroup);
        const search = member(transport, topic, searchGroup, ackEach);
        const analytics = member(transport, topic, analyticsGroup, ackEach);
        for (let i = 0; i < events.length; i += 10) await transport.publisher.publish(topic, events.slice(i, i + 10));
        await waitFor('100 in each group', () => distinctIds(search.received).size === 100 && distinctIds(analytics.received).size === 100, timeoutMs);
        const all = new Set(events.map((e) => e.id));
        expect(distinctIds(search.received)).toEqual(all);
        expect(distinctIds(analytics.received)).toEqual(all);
      }, caseTimeout);

      stressed(it.skipIf(skip))(`shares the work between two members of one group, no event to both${reason}`, async () => {
        const transport = await open();
        const topic = uniqueName('share');
        const group = uniqueName('g');
        const events = Array.from({ length: 100 }, (_, i) => probeEvent(topic, i));
        const slowAck = async (delivery: Delivery): Promise<void> => {
          await sleep(2);
          await delivery.ack();
        };
        await prepare(transport, topic, group);
        const a = member(transport, topic, group, slowAck, 5);
        const b = member(transport, topic, group, slowAck, 5);
        for (let i = 0; i < events.length; i += 10) await transport.publisher.publish(topic, events.slice(i, i + 10));
        await waitFor('100 in the group', () => new Set([...distinctIds(a.received), ...distinctIds(b.received)]).size === 100, timeoutMs);
        const idsA = distinctIds(a.received);
        const idsB = distinctIds(b.received);
        expect(idsA.size).toBeGreaterThan(0);
        expect(idsB.size).toBeGreaterThan(0);
        expect([...idsA].filter((id) => idsB.has(id))).toEqual([]);
        expect(new Set([...idsA, ...idsB])).toEqual(new Set(events.map((e) => e.id)));
      }, caseTimeout);
    });

    stressed(it)('redelivers what a member took and never acked, once that member stops, after the processing timeout', async () => {
      const transport = await open();
      const topic = uniqueName('noack');
      const group = uniqueName('g');
      const events = Array.from({ length: 10 }, (_, i) => probeEvent(topic, i));
      await prepare(transport, topic, group);
      await transport.publisher.publish(topic, events);
      const dying = member(transport, topic, group); // takes, never acks
      await waitFor('the first member to take all 10', () => dying.received.length === 10, timeoutMs);
      dying.controller.abort();
      await dying.finished;

      const survivor = member(transport, topic, group, ackEach);
      await waitFor('10 redeliveries', () => distinctIds(survivor.received).size === 10, timeoutMs);
      expect(distinctIds(survivor.received)).toEqual(new Set(events.map((e) => e.id)));
      expect(survivor.received.every((d) => d.attempt >= 2)).toBe(true);
    }, caseTimeout);

    describe('nack', () => {
      const skip = !capabilities.redeliversOnNack;
      const reason = skip ? ' (skipped: redeliversOnNack is false)' : '';

      stressed(it.skipIf(skip))(`redelivers a nacked delivery with the next attempt${reason}`, async () => {
        const transport = await open();
        const topic = uniqueName('nack');
        const event = probeEvent(topic, 1);
        const group = uniqueName('g');
        await prepare(transport, topic, group);
        await transport.publisher.publish(topic, [event], { metadata: { tenant: 'acme' } });
        const reader = member(transport, topic, group, async (delivery) => {
          if (delivery.attempt === 1) await delivery.nack();
          else await delivery.ack();
        });
        await waitFor('the redelivery', () => reader.received.length >= 2, timeoutMs);
        const [first, second] = reader.received;
        expect(second).toMatchObject({ id: first!.id, attempt: 2, body: first!.body, metadata: { tenant: 'acme' } });
      }, caseTimeout);

      const skipDelay = !capabilities.delayedRedelivery;
      stressed(it.skipIf(skipDelay))(`redelivers after nack({ delayMs }) no sooner than the delay${skipDelay ? ' (skipped: delayedRedelivery is false)' : ''}`, async () => {
        const transport = await open();
        const topic = uniqueName('nackdelay');
        const group = uniqueName('g');
        await prepare(transport, topic, group);
        await transport.publisher.publish(topic, [probeEvent(topic, 1)]);
        const delayMs = 300;
        let nackedAt = 0;
        const arrivals: number[] = [];
        const reader = member(transport, topic, group, async (delivery) => {
          arrivals.push(Date.now());
          if (delivery.attempt === 1) {
            nackedAt = Date.now();
            await delivery.nack({ delayMs });
          } else {
            await delivery.ack();
          }
        });
        await waitFor('the delayed redelivery', () => reader.received.length >= 2, timeoutMs);
        expect(reader.received[1]!.attempt).toBeGreaterThan(1);
        expect(reader.received[1]!.id).toBe(reader.received[0]!.id);
        expect(arrivals[1]! - nackedAt).toBeGreaterThanOrEqual(delayMs - 5); // timer granularity
      }, caseTimeout);

      stressed(it.skipIf(skip))(`lets a handler that nacks the first 2 events and every 5th still see every event${reason}`, async () => {
        const transport = await open();
        const topic = uniqueName('flaky');
        const events = Array.from({ length: 50 }, (_, i) => probeEvent(topic, i));
        const handled = new Set<number>();
        const group = uniqueName('g');
        await prepare(transport, topic, group);
        const reader = member(transport, topic, group, async (delivery) => {
          const { seq } = probeOf(delivery);
          if (delivery.attempt === 1 && (seq < 2 || seq % 5 === 4)) return delivery.nack();
          handled.add(seq);
          return delivery.ack();
        });
        await transport.publisher.publish(topic, events);
        await waitFor('every event handled', () => handled.size === events.length, timeoutMs);
        const failedFirst = events.map((_, i) => i).filter((seq) => seq < 2 || seq % 5 === 4);
        for (const seq of failedFirst) {
          expect(reader.received.some((d) => probeOf(d).seq === seq && d.attempt > 1)).toBe(true);
        }
      }, caseTimeout);
    });

    stressed(it)('continues after a subscriber closes mid-stream, with no loss', async () => {
      const transport = await open();
      const topic = uniqueName('resume');
      const group = uniqueName('g');
      const events = Array.from({ length: 100 }, (_, i) => probeEvent(topic, i));
      await prepare(transport, topic, group);
      await transport.publisher.publish(topic, events);
      const acked = new Set<string>();
      const first = member(transport, topic, group, async (delivery) => {
        if (acked.size >= 30) return; // stop acking; the abort follows
        await delivery.ack();
        acked.add(idOf(delivery));
      }, 10);
      await waitFor('30 acked by the first subscription', () => acked.size >= 30, timeoutMs);
      first.controller.abort();
      await first.finished;

      const second = member(transport, topic, group, ackEach, 10);
      const all = new Set(events.map((e) => e.id));
      await waitFor('the rest in the second subscription', () => new Set([...acked, ...distinctIds(second.received)]).size === all.size, timeoutMs);
      expect(new Set([...acked, ...distinctIds(second.received)])).toEqual(all);
    }, caseTimeout);

    stressed(it)('closes safely when close() runs twice at once while a delivery is in flight', async () => {
      const transport = await open(); // afterEach closes it once more
      const topic = uniqueName('close');
      const group = uniqueName('g');
      await prepare(transport, topic, group);
      await transport.publisher.publish(topic, [probeEvent(topic, 1), probeEvent(topic, 2), probeEvent(topic, 3)]);
      const controller = new AbortController();
      controllers.push(controller);
      const iterator = transport.subscriber.subscribe(topic, { group, consumer: uniqueName('c'), signal: controller.signal })[Symbol.asyncIterator]();
      const held = (await iterator.next()).value as Delivery; // in flight: neither acked nor nacked at close
      const racing = (await iterator.next()).value as Delivery;
      const settling = racing.ack(); // an ack racing the close
      const closing = Promise.all([transport.close(), transport.close(), transport.subscriber.close(), transport.publisher.close()]);
      await expect(closing).resolves.toBeDefined();
      await expect(transport.close()).resolves.toBeUndefined();
      await expect(settling).resolves.toBeUndefined();
      await expect(held.ack()).resolves.toBeUndefined(); // ignored after close, but no throw
      // The iteration ends (or hands out what it already had) rather than hanging or throwing.
      const next = await Promise.race([iterator.next(), sleep(timeoutMs).then(() => 'hung' as const)]);
      expect(next).not.toBe('hung');
    }, caseTimeout);

    stressed(it.skipIf(!capabilities.orderedPerKey))(
      `keeps the order per key across the members of a group${capabilities.orderedPerKey ? '' : ' (skipped: orderedPerKey is false)'}`,
      async () => {
        const transport = await open();
        const topic = uniqueName('order');
        const group = uniqueName('g');
        const events = Array.from({ length: 100 }, (_, i) => probeEvent(topic, i));
        const order = new Map<string, number[]>();
        const record = async (delivery: Delivery): Promise<void> => {
          const { key, seq } = probeOf(delivery);
          order.set(key, [...(order.get(key) ?? []), seq]);
          await delivery.ack();
        };
        await prepare(transport, topic, group);
        member(transport, topic, group, record);
        member(transport, topic, group, record);
        for (let i = 0; i < events.length; i += 10) await transport.publisher.publish(topic, events.slice(i, i + 10));
        await waitFor('100 handled', () => [...order.values()].reduce((n, seqs) => n + seqs.length, 0) >= 100, timeoutMs);
        for (const seqs of order.values()) expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      },
      caseTimeout,
    );

    describe('payload size', () => {
      const max = capabilities.maxPayloadBytes;
      /** An event whose JSON text is exactly `bytes` long (ASCII filler). */
      const eventOfSize = (topic: string, bytes: number): CloudEvent<{ seq: number; key: string; fill: string }> => {
        const shell = createEnvelope({ topic, version: 1, source: 'conformance', data: { seq: 0, key: 'k0', fill: '' }, subject: 'k0', partitionKey: 'k0' });
        const overhead = Buffer.byteLength(JSON.stringify(shell));
        return { ...shell, data: { ...shell.data, fill: 'x'.repeat(bytes - overhead) } };
      };

      stressed(it)(`carries an event near the limit intact (min of maxPayloadBytes ${max} and 1 MiB)`, async () => {
        const transport = await open();
        const topic = uniqueName('big');
        // Brokers count headers (metadata, ids) against their own limit; leave them 4 KiB.
        const event = eventOfSize(topic, Math.min(max, 1024 * 1024) - 4096);
        const group = uniqueName('g');
        await prepare(transport, topic, group);
        await transport.publisher.publish(topic, [event]);
        const reader = member(transport, topic, group, ackEach);
        await waitFor('the large event', () => reader.received.length >= 1, timeoutMs);
        expect(parseEnvelope(reader.received[0]!.body)).toEqual(event);
      }, caseTimeout);

      // Building a string beyond a very large limit costs more than it proves; 256 MiB is the cap.
      const skipOver = max > 256 * 1024 * 1024;
      stressed(it.skipIf(skipOver))(`refuses a call with an event over maxPayloadBytes, sending none of it${skipOver ? ' (skipped: limit above 256 MiB)' : ''}`, async () => {
        const transport = await open();
        const topic = uniqueName('toobig');
        const small = probeEvent(topic, 1);
        const oversized = eventOfSize(topic, max + 1);
        const group = uniqueName('g');
        await prepare(transport, topic, group);
        const refused = await transport.publisher.publish(topic, [small, oversized]).then(() => undefined, (error: unknown) => error);
        expect(refused).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', maxBytes: max, bytes: max + 1 });
        // The call was refused whole: a later event arrives, the small one from the refused call does not.
        const after = probeEvent(topic, 2);
        await transport.publisher.publish(topic, [after]);
        const reader = member(transport, topic, group, ackEach);
        await waitFor('the event after the refused call', () => reader.received.length >= 1, timeoutMs);
        await sleep(100);
        expect([...distinctIds(reader.received)]).toEqual([after.id]);
      }, caseTimeout);
    });

    stressed(it)('keeps the trace context across the hop', async () => {
      const transport = await open();
      const topic = uniqueName('trace');
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const tracestate = 'vendor=opaque';
      const event = probeEvent(topic, 1, 'k1', { traceparent, tracestate });
      const group = uniqueName('g');
      await prepare(transport, topic, group);
      await transport.publisher.publish(topic, [event]);
      const reader = member(transport, topic, group, ackEach);
      await waitFor('the traced event', () => reader.received.length >= 1, timeoutMs);
      expect(parseEnvelope(reader.received[0]!.body)).toMatchObject({ id: event.id, traceparent, tracestate });
    }, caseTimeout);

    stressed(it)('counts the lag of a group: N published and not consumed, 0 once all acked, undefined for an unknown topic or group', async (context) => {
      const transport = await open();
      // Optional in the contract: a transport without it is reported as skipped, not passed.
      if (!transport.lag) return context.skip('the transport has no lag()');
      const lagOf = (topic: string, group: string): Promise<number | undefined> => transport.lag!(topic, group);
      const topic = uniqueName('lag');
      const group = uniqueName('g');
      const waitForLag = (expected: number, what: string): Promise<void> => {
        let last: number | undefined;
        return waitFor(what, async () => (last = await lagOf(topic, group)) === expected, timeoutMs, () => `lag ${last}`);
      };
      expect(await lagOf(topic, group)).toBeUndefined();

      // The group exists from its first subscription on (RabbitMQ: from declareGroup): one member
      // takes and acks a first event, then stops.
      await prepare(transport, topic, group);
      const first = member(transport, topic, group, ackEach);
      await transport.publisher.publish(topic, [probeEvent(topic, 0)]);
      await waitFor('the first event', () => first.received.length >= 1, timeoutMs);
      await waitForLag(0, 'lag 0 once the first event was acked');
      first.controller.abort();
      await first.finished;
      expect(await lagOf(topic, uniqueName('unknown'))).toBeUndefined();

      const events = Array.from({ length: 25 }, (_, i) => probeEvent(topic, i + 1));
      await transport.publisher.publish(topic, events.slice(0, 10));
      await transport.publisher.publish(topic, events.slice(10));
      await waitForLag(25, 'lag 25 with no member running');

      const second = member(transport, topic, group, ackEach);
      await waitFor('the 25 events', () => distinctIds(second.received).size === 25, timeoutMs);
      await waitForLag(0, 'lag 0 once all were acked');

      await transport.close();
      await expect(lagOf(topic, group)).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
    }, caseTimeout);

    stressed(it.skipIf(!capabilities.replaysForNewGroups))(
      `gives a new group the events published before it joined${capabilities.replaysForNewGroups ? '' : ' (skipped: replaysForNewGroups is false)'}`,
      async () => {
        const transport = await open();
        const topic = uniqueName('late');
        const early = member(transport, topic, uniqueName('early'), ackEach);
        const before = Array.from({ length: 20 }, (_, i) => probeEvent(topic, i));
        await transport.publisher.publish(topic, before);
        await waitFor('the early group to have them', () => distinctIds(early.received).size === 20, timeoutMs);
        const late = member(transport, topic, uniqueName('late'), ackEach);
        const after = Array.from({ length: 5 }, (_, i) => probeEvent(topic, 20 + i));
        await transport.publisher.publish(topic, after);
        await waitFor('all 25 in the late group', () => distinctIds(late.received).size === 25, timeoutMs);
        expect(distinctIds(late.received)).toEqual(new Set([...before, ...after].map((e) => e.id)));
      },
      caseTimeout,
    );

    it.skipIf(!options.restartBroker)(
      `loses no acknowledged event when the broker restarts mid-stream${options.restartBroker ? '' : ' (skipped: no restartBroker given)'}`,
      async () => {
        const transport = await open();
        const topic = uniqueName('restart');
        const group = uniqueName('g');
        await prepare(transport, topic, group);
        const reader = member(transport, topic, group, ackEach, 10);
        const published: CloudEvent<Probe>[] = [];
        const publish = async (from: number, count: number): Promise<void> => {
          const batch = Array.from({ length: count }, (_, i) => probeEvent(topic, from + i));
          await transport.publisher.publish(topic, batch);
          published.push(...batch); // acknowledged by the broker only once publish resolved
        };
        for (let i = 0; i < 200; i += 20) await publish(i, 20);
        await waitFor('some deliveries before the restart', () => reader.received.length >= 50, timeoutMs);

        await options.restartBroker!();

        for (let i = 200; i < 400; i += 20) await publish(i, 20);
        const all = new Set(published.map((e) => e.id));
        await waitFor('every acknowledged event after the restart', () => [...all].every((id) => distinctIds(reader.received).has(id)), timeoutMs);
        // A fresh connection and group see every acknowledged event too: none lost in the broker.
        const fresh = await open();
        const audit = member(fresh, topic, uniqueName('audit'), ackEach);
        if (capabilities.replaysForNewGroups) {
          await waitFor('every event in a fresh group', () => distinctIds(audit.received).size >= all.size, timeoutMs);
          expect(distinctIds(audit.received)).toEqual(all);
        }
      },
      caseTimeout * 2,
    );
  });
}
