/**
 * `ailo-miner --serve`: a native contributor to the node's inference room (trainer/inference/contributor.ts) on
 * onnxruntime-node, with the miner's chunk cache and the wallet key that signs its join. Runs until Ctrl-C or until
 * the node closes the channel, printing what it serves.
 */
import { WebSocket } from 'ws';
import { RoomContributor } from '../../trainer/inference/contributor.js';
import { ChunkCache } from '../../trainer/miner/chunk-cache.js';
import type { NativeDevice } from '../../trainer/miner/status.js';
import { nodeRuntime } from '../../trainer/runtime/model-session.js';
import { inferenceJoinSigner } from './task-signer.js';
import type { WalletKey } from './wallet-key.js';

export interface ServeOptions {
  key: WalletKey;
  nodeUrl: string;
  /** The model to serve (GET /api/inference/models): the network's, `ailo`, or an operator's imported one. */
  model: string;
  /** The most layers to hold. */
  layers: number;
  /** Memory the span may use (bytes): the layers asked for are cut to what fits. */
  memoryBytes: number;
  device: NativeDevice;
  why: string;
  cacheDir: string;
  log?: (line: string) => void;
}

/** Serves until stopped; the process exit code: 0 after Ctrl-C, 1 when the node closed the channel or it failed. */
export async function serveRoom(o: ServeOptions): Promise<number> {
  const log = o.log ?? ((line: string) => console.log(line));
  const contributor = new RoomContributor({
    nodeUrl: o.nodeUrl,
    model: o.model,
    maxLayers: o.layers,
    memoryBytes: o.memoryBytes,
    signJoin: inferenceJoinSigner(o.key.privateKey, o.nodeUrl),
    runtime: nodeRuntime(o.device.provider, { deviceId: o.device.deviceId }),
    chunks: new ChunkCache(o.cacheDir),
    webSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    agent: `ailo-miner ${o.device.provider}`,
    log: (line) => log(`ailo-miner: ${line}`),
  });
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    contributor.stop();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  log(`ailo-miner: serving chat for wallet ${o.key.wallet} through ${o.nodeUrl} on ${o.device.provider} (${o.why})`);
  try {
    await contributor.start();
  } catch (err) {
    log(`ailo-miner: could not join the room: ${(err as Error).message}`);
    return 1;
  }
  const progress = setInterval(() => {
    const s = contributor.state;
    if (s.phase === 'serving') log(`ailo-miner: layers ${s.span!.start}..${s.span!.end - 1}, ${s.served} forward passes answered`);
  }, 60_000);
  await contributor.closed;
  clearInterval(progress);
  const closing = contributor.state.closing;
  log(
    `ailo-miner: left the room after ${contributor.state.served} forward passes${closing ? ` (the node said ${closing.code}: ${closing.message})` : ''}`,
  );
  return stopped ? 0 : 1;
}
