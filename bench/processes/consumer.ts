import { sendToParent, serveParent } from '../harness/child-process.js';
import { SampleBuffer } from '../harness/stats.js';
import { loadSystem, type ProductEvent, type Stoppable } from '../harness/system.js';

/**
 * The consumer of the system under test, alone in its process. Records, for each
 * distinct event (by `seq`), its intended send time and the time its consumer
 * transaction committed; a second commit of the same event counts as a duplicate.
 */
let consumer: Stoppable | undefined;
let progress: NodeJS.Timeout | undefined;
const seen = new Set<number>();
const intended = new SampleBuffer();
const committed = new SampleBuffer();
let duplicates = 0;

function onCommitted(event: ProductEvent, committedAtMs: number): void {
  if (seen.has(event.seq)) {
    duplicates++;
    return;
  }
  seen.add(event.seq);
  intended.push(event.intendedAtMs);
  committed.push(committedAtMs);
}

serveParent(async (message) => {
  switch (message.type) {
    case 'init': {
      const system = await loadSystem(message.system);
      consumer = await system.startConsumer(message.ctx, onCommitted);
      progress = setInterval(() => sendToParent({ type: 'consumer-progress', applied: seen.size, duplicates }), 100);
      sendToParent({ type: 'ready' });
      return;
    }
    case 'collect':
      sendToParent({
        type: 'consumer-samples',
        applied: seen.size,
        duplicates,
        intendedAtMs: intended.toArray(),
        committedAtMs: committed.toArray(),
      });
      return;
    case 'stop':
      clearInterval(progress);
      await consumer?.close();
      process.exit(0);
      return;
    default:
      return;
  }
});
