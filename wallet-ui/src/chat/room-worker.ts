/**
 * Serving a span of the network's model from this browser, in a module worker so the page stays responsive: the
 * one room contributor (trainer/inference/contributor.ts, the native miner's) over onnxruntime-web (WebGPU where an
 * adapter exists, else WASM) with the weight chunks in IndexedDB (only the chunks of its span are fetched). The join
 * is signed by the page, which holds the wallet's key; the key never comes to the worker.
 */
import type { SignedJoinBody } from '../../../protocol/inference.js';
import { RoomContributor } from '../../../trainer/inference/contributor.js';
import { webRuntime } from '../browser-miner/browser-trainer.js';
import { ChunkStore } from '../browser-miner/chunk-store.js';
import type { BackendChoice, MiningBackend } from '../browser-miner/protocol.js';
import type { PageToRoomWorker, RoomWorkerToPage } from './room-protocol.js';

const scope = self as unknown as {
  postMessage(m: RoomWorkerToPage): void;
  onmessage: ((e: MessageEvent<PageToRoomWorker>) => void) | null;
};
const post = (m: RoomWorkerToPage): void => scope.postMessage(m);

const signing = new Map<number, { resolve: (body: SignedJoinBody) => void; reject: (err: Error) => void }>();
let lastSigningId = 0;

/** A join for `coordinator` signed by the page with the logged-in wallet's key. */
function signedJoin(coordinator: string): Promise<SignedJoinBody> {
  const id = ++lastSigningId;
  return new Promise((resolve, reject) => {
    signing.set(id, { resolve, reject });
    post({ type: 'sign-join', id, coordinator });
  });
}

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string };
}

/** WebGPU when this browser has an adapter (and it is allowed), else WASM; the words say why. */
async function pickBackend(choice: BackendChoice): Promise<{ backend: MiningBackend; description: string }> {
  let why = 'WASM was chosen';
  if (choice !== 'wasm') {
    const gpu = (navigator as { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
    const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
    if (adapter) {
      const name = [adapter.info?.vendor, adapter.info?.architecture || adapter.info?.description].filter(Boolean).join(' ');
      return { backend: 'webgpu', description: `WebGPU on ${name || 'a graphics adapter'}` };
    }
    why = gpu ? 'WebGPU found no graphics adapter' : 'this browser has no WebGPU';
    if (choice === 'webgpu') throw new Error(`cannot serve with WebGPU: ${why}. Choose WASM (slower) instead.`);
  }
  return { backend: 'wasm', description: `WASM on the CPU (${why})` };
}

let contributor: RoomContributor | undefined;

scope.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'join-signed') {
    const waiting = signing.get(m.id);
    signing.delete(m.id);
    if ('body' in m) waiting?.resolve(m.body);
    else waiting?.reject(new Error(`could not sign the join: ${m.error}`));
    return;
  }
  if (m.type === 'stop') {
    contributor?.stop();
    return;
  }
  if (m.type !== 'start' || contributor) return;
  void (async () => {
    try {
      const device = await pickBackend(m.backend);
      post({ type: 'device', ...device });
      const c = new RoomContributor({
        // The node that serves this page.
        nodeUrl: self.location.origin,
        model: m.model,
        maxLayers: m.maxLayers,
        signJoin: signedJoin,
        runtime: await webRuntime(device.backend),
        chunks: await ChunkStore.open(),
        agent: `browser ${device.backend}`,
        log: (line) => post({ type: 'log', line }),
        onError: (message) => {
          post({ type: 'failed', message });
          c.stop();
        },
        onState: (state) => post({ type: 'state', state }),
      });
      contributor = c;
      await c.start();
      post({ type: 'joined' });
    } catch (err) {
      post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
    }
  })();
};
post({ type: 'ready' });
