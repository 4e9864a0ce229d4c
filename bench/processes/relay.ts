import { sendToParent, serveParent } from '../harness/child-process.js';
import { loadSystem, type Stoppable } from '../harness/system.js';

/** The relay of the system under test, alone in its process. */
let relay: Stoppable | undefined;

serveParent(async (message) => {
  switch (message.type) {
    case 'init': {
      const system = await loadSystem(message.system);
      relay = await system.startRelay(message.ctx);
      sendToParent({ type: 'ready' });
      return;
    }
    case 'stop':
      await relay?.close();
      process.exit(0);
      return;
    default:
      return;
  }
});
