/**
 * A full V8 garbage collection, on demand (Node only). A training session's arrays are gigabytes on ailo-1b (the
 * parameters, the AdamW moments, the gradients), and V8 frees an ArrayBuffer's memory only when it next collects,
 * which a process that has gone idle (a coordinator between submissions, a miner waiting for its verdict) may not do
 * for a long time (measured on ailo-1b in a test script: one training's 3 GiB update stayed resident until a
 * collection). What glibc's malloc keeps of onnxruntime's freed buffers is another matter, which this does not reach
 * (README "Memory": MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_). The `gc` function is the one `node --expose-gc` gives, made
 * available at run time through `v8.setFlagsFromString` as Node's documentation of that function describes.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
