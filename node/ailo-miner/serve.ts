/**
 * `ailo-miner --serve`: a native contributor to the node's inference room (trainer/inference/contributor.ts) on
 * onnxruntime-node, with the miner's chunk cache and the wallet key that signs its join. Runs until Ctrl-C, joining
 * again when the node restarts or the connection drops, and printing what it serves.
 */
import { WebSocket } from 'ws';
import { NodeError } from '../../protocol/errors.js';
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
  /** The first wait before joining again after the channel dropped (ms; default 1 s, doubling to 30 s). */
  retryMs?: number;
  /** How often the serving progress is printed (ms; default a minute). */
  progressMs?: number;
}

/**
 * Why the node closed a channel that joining again would not cure: this machine's own fault (its rows were wrong, it
 * failed, it sent what the node cannot read), a refusal that stands (the join, the model), or another contributor of
 * the same wallet that took its place (REPLACED: joining again would only take it back, in a loop). Anything else (the node
 * restarted or stopped, the connection dropped, the room was full, a forward timed out) is worth another join.
 */
const FINAL_CLOSINGS = new Set(['BAD_JOIN', 'UNKNOWN_MODEL', 'BAD_FRAME', 'WRONG_OUTPUT', 'CONTRIBUTOR_ERROR', 'REPLACED']);

/** A failed start that another try may cure: the node did not answer (down, restarting) or its socket did not open. */
function transient(err: unknown): boolean {
  if (err instanceof NodeError) return err.code === 'UNREACHABLE' || err.status >= 500;
  return err instanceof Error && err.message.startsWith('could not open the room channel');
}

/**
 * Serves until stopped, joining the room again (with a fresh signed join) whenever the channel drops for a reason a
 * new join can cure: the node restarted, the connection was lost, the room was full. Waits between tries grow from
 * `retryMs` (default 1 s) to 30 s, and start over once serving again. The process exit code: 0 after Ctrl-C; 1 when
 * the first join fails (the message says why), or the node closed the channel for good (`FINAL_CLOSINGS`).
 */
export async function serveRoom(o: ServeOptions): Promise<number> {
  const log = o.log ?? ((line: string) => console.log(line));
  const runtime = nodeRuntime(o.device.provider, { deviceId: o.device.deviceId });
  const chunks = new ChunkCache(o.cacheDir);
  const signJoin = inferenceJoinSigner(o.key.privateKey, o.nodeUrl);
  let contributor: RoomContributor | undefined;
  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = (): void => {
    stopped = true;
    contributor?.stop();
    wake?.();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
  log(`ailo-miner: serving chat for wallet ${o.key.wallet} through ${o.nodeUrl} on ${o.device.provider} (${o.why})`);
  const firstRetryMs = o.retryMs ?? 1_000;
  let retryMs = firstRetryMs;
  let served = 0;
  for (let attempt = 0; !stopped; attempt++) {
    contributor = new RoomContributor({
      nodeUrl: o.nodeUrl,
      model: o.model,
      maxLayers: o.layers,
      memoryBytes: o.memoryBytes,
      signJoin,
      runtime,
      chunks,
      webSocket: WebSocket as unknown as typeof globalThis.WebSocket,
      agent: `ailo-miner ${o.device.provider}`,
      log: (line) => log(`ailo-miner: ${line}`),
    });
    try {
      await contributor.start();
    } catch (err) {
      if (attempt === 0 || !transient(err)) {
        log(`ailo-miner: could not join the room: ${(err as Error).message}`);
        return stopped ? 0 : 1;
      }
      log(`ailo-miner: could not join the room again (${(err as Error).message}); trying in ${Math.round(retryMs / 1000)} s`);
      await pause(retryMs);
      retryMs = Math.min(30_000, retryMs * 2);
      continue;
    }
    const current = contributor;
    const progress = setInterval(() => {
      const s = current.state;
      if (s.phase === 'serving') {
        retryMs = firstRetryMs;
        log(`ailo-miner: layers ${s.span!.start}..${s.span!.end - 1}, ${served + s.served} forward passes answered`);
      }
    }, o.progressMs ?? 60_000);
    await current.closed;
    clearInterval(progress);
    served += current.state.served;
    if (current.state.served > 0) retryMs = firstRetryMs;
    const closing = current.state.closing;
    const why = closing ? ` (the node said ${closing.code}: ${closing.message})` : '';
    if (stopped) {
      log(`ailo-miner: left the room after ${served} forward passes${why}`);
      return 0;
    }
    if (closing && FINAL_CLOSINGS.has(closing.code)) {
      log(`ailo-miner: the node closed the channel after ${served} forward passes${why}; not joining again`);
      return 1;
    }
    log(
      `ailo-miner: the channel closed after ${served} forward passes${why || ' (connection lost)'}; joining again in ${Math.round(retryMs / 1000)} s`,
    );
    await pause(retryMs);
    retryMs = Math.min(30_000, retryMs * 2);
  }
  log(`ailo-miner: left the room after ${served} forward passes`);
  return 0;
}
