/**
 * Node's SignatureVerifier: native libsecp256k1 recovery spread over worker threads in batches.
 * Small batches are recovered on the calling thread, where a round trip to a worker would cost more than the work.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { addressFromBytes, type Address } from '../../protocol/address.js';
import { backend, recoverBatch } from './recover-core.js';
import type { SignatureVerifier } from './verifier.js';

const INLINE_BELOW = 64;

interface Pending {
  resolve: (r: { addresses: Uint8Array; ok: Uint8Array }) => void;
  reject: (e: Error) => void;
}

export class WorkerPoolVerifier implements SignatureVerifier {
  readonly backend = backend;
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  constructor(readonly threads = Math.max(1, availableParallelism())) {
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(new URL('./recover-worker.js', import.meta.url));
      worker.on('message', (msg: { id: number; addresses: Uint8Array; ok: Uint8Array }) => {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (this.pending.size === 0) this.idle();
        p?.resolve(msg);
      });
      worker.on('error', (err) => {
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        this.idle();
      });
      this.workers.push(worker);
    }
    // After the listeners: adding a 'message' listener re-references a worker, which would keep the process alive.
    this.idle();
  }

  /** Idle workers must not keep the process alive; busy ones must, or a process awaiting only a batch would exit. */
  private idle(): void {
    for (const w of this.workers) w.unref();
  }

  private busy(): void {
    for (const w of this.workers) w.ref();
  }

  private run(worker: Worker, digests: Uint8Array, sigs: Uint8Array): Promise<{ addresses: Uint8Array; ok: Uint8Array }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.busy();
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, digests, sigs }, [digests.buffer as ArrayBuffer, sigs.buffer as ArrayBuffer]);
    });
  }

  async recoverMany(digests: Uint8Array[], signatures: Uint8Array[]): Promise<(Address | null)[]> {
    const n = digests.length;
    const packedDigests = new Uint8Array(n * 32);
    const packedSigs = new Uint8Array(n * 65);
    for (let i = 0; i < n; i++) {
      packedDigests.set(digests[i]!, i * 32);
      packedSigs.set(signatures[i]!.length === 65 ? signatures[i]! : new Uint8Array(65), i * 65);
    }
    let parts: { addresses: Uint8Array; ok: Uint8Array }[];
    if (n < INLINE_BELOW || this.workers.length === 0) {
      parts = [recoverBatch(packedDigests, packedSigs)];
    } else {
      const chunk = Math.ceil(n / this.workers.length);
      const jobs: Promise<{ addresses: Uint8Array; ok: Uint8Array }>[] = [];
      for (let w = 0, start = 0; start < n; w++, start += chunk) {
        const end = Math.min(n, start + chunk);
        jobs.push(this.run(this.workers[w]!, packedDigests.slice(start * 32, end * 32), packedSigs.slice(start * 65, end * 65)));
      }
      parts = await Promise.all(jobs);
    }
    const out: (Address | null)[] = [];
    for (const part of parts) {
      for (let i = 0; i < part.ok.length; i++) out.push(part.ok[i] ? addressFromBytes(part.addresses.subarray(i * 20, i * 20 + 20)) : null);
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
