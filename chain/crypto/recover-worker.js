// @ts-check
/** Worker thread body of the signature pool: recovers addresses for batches posted by the main thread. */
import { parentPort } from 'node:worker_threads';
import { recoverBatch } from './recover-core.js';

if (!parentPort) throw new Error('recover-worker.js must run as a worker thread');
const port = parentPort;
port.on('message', (/** @type {{ id: number, digests: Uint8Array, sigs: Uint8Array }} */ msg) => {
  const { addresses, ok } = recoverBatch(msg.digests, msg.sigs);
  port.postMessage({ id: msg.id, addresses, ok }, [addresses.buffer, ok.buffer]);
});
