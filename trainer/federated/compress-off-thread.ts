/**
 * `compressTaskUpdate` off the event loop (Node only): a coordinator's recomputations and reference tasks, and the
 * native miner's submissions. On AILO-1B one compression runs 69 s on this project's machine (low-rank factors and
 * top-k of 821M values), and on the event loop it froze the node: no blocks, no answers, and a request arriving then
 * was refused 408 (its body unread within the server's 30 s); in the miner, its GUI and GPU readings. Here it runs in
 * one worker thread, started at the first call and not keeping the process alive while idle; the update's arrays are
 * moved to it, not copied.
 */
import { Worker } from 'node:worker_threads';
import type { ModelUpdate } from '../codec/update-codec.js';
import type { ModelConfig } from '../model/config.js';

type Compressed = { sent: ModelUpdate; bytes: Uint8Array };

/** A worker and the calls waiting on it: a worker that fails rejects its own calls only. */
interface Slot {
  w: Worker;
  pending: Map<number, { resolve: (c: Compressed) => void; reject: (e: Error) => void }>;
}

let slot: Slot | undefined;
let nextId = 0;

function start(): Slot {
  // The worker is TypeScript: its entry registers tsx's loader, whatever the parent was started with (tsx, vitest).
  const me: Slot = { w: new Worker(new URL('./compress-worker-entry.mjs', import.meta.url)), pending: new Map() };
  me.w.on('message', (msg: { id: number; sent?: ModelUpdate; bytes?: Uint8Array; error?: string }) => {
    const p = me.pending.get(msg.id);
    me.pending.delete(msg.id);
    if (me.pending.size === 0) me.w.unref();
    if (msg.error !== undefined) p?.reject(new Error(`compressing the update: ${msg.error}`));
    else p?.resolve({ sent: msg.sent!, bytes: msg.bytes! });
  });
  // The next call starts a new worker.
  const fail = (err: Error): void => {
    for (const p of me.pending.values()) p.reject(err);
    me.pending.clear();
    if (slot === me) slot = undefined;
  };
  me.w.on('error', fail);
  me.w.on('exit', (code) => fail(new Error(`the compression worker exited (code ${code})`)));
  return me;
}

/**
 * `compressTaskUpdate(cfg, update, limits)`'s encoded bytes and decoded update (`sent`), computed in a worker thread.
 * `update`'s arrays are moved there (a view on a larger buffer is copied first): the caller must not use them after.
 * Rejects if the worker fails.
 */
export function compressOffThread(
  cfg: ModelConfig,
  update: Map<string, Float32Array>,
  limits: { density: number; maxAbs: number },
): Promise<Compressed> {
  const tensors: [string, Float32Array][] = [];
  const transfer = new Set<ArrayBuffer>();
  for (const [name, a] of update) {
    // Moved already (an array given twice): a message holding a detached buffer would never arrive.
    if (a.buffer.byteLength === 0 && a.length === 0)
      return Promise.reject(new RangeError(`compressOffThread: ${name}'s array was already moved`));
    const whole = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && !transfer.has(a.buffer as ArrayBuffer);
    const own = whole ? a : a.slice();
    transfer.add(own.buffer as ArrayBuffer);
    tensors.push([name, own]);
  }
  slot ??= start();
  const { w, pending } = slot;
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.ref();
    w.postMessage({ id, cfg, tensors, limits }, [...transfer]);
  });
}
