/**
 * Model weight chunks in IndexedDB, keyed by their sha256: a chunk is fetched once, checked against its name
 * with WebCrypto (on the way in and on every read), and served from here on every later load, whichever version
 * names it.
 */
import type { NodeClient } from '../../../protocol/client.js';
import type { ModelChunk } from '../../../trainer/federated/model-manifest.js';
import type { ChunkSource, FetchedChunk } from '../../../trainer/miner/miner-loop.js';

const DB_NAME = 'ailo-model-chunks';
const STORE = 'chunks';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}

export class ChunkStore implements ChunkSource {
  private constructor(private readonly db: IDBDatabase) {}

  static async open(): Promise<ChunkStore> {
    const open = indexedDB.open(DB_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE);
    return new ChunkStore(await request(open));
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    const value = (await request(this.db.transaction(STORE, 'readonly').objectStore(STORE).get(name))) as ArrayBuffer | undefined;
    return value ? new Uint8Array(value) : undefined;
  }

  async put(name: string, bytes: Uint8Array): Promise<void> {
    const tx = this.db.transaction(STORE, 'readwrite');
    tx.objectStore(STORE).put(bytes.slice().buffer, name);
    await new Promise<void>((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = tx.onabort = () => reject(tx.error ?? new Error('IndexedDB write failed'));
    });
  }

  /** Drops every chunk the current version does not name, so the cache holds one model, not every one seen. */
  async keepOnly(names: ReadonlySet<string>): Promise<void> {
    const store = this.db.transaction(STORE, 'readwrite').objectStore(STORE);
    const keys = (await request(store.getAllKeys())) as string[];
    await Promise.all(keys.filter((k) => !names.has(k)).map((k) => request(store.delete(k))));
  }

  /** A chunk from the cache, or fetched with the miner's client, verified and cached; `fromCache` tells which. */
  async fetch(chunk: ModelChunk, client: NodeClient): Promise<FetchedChunk> {
    const cached = await this.get(chunk.name);
    // Checked again on every read: storage can be damaged, and a bad chunk would poison every update.
    if (cached && cached.length === chunk.size && (await sha256Hex(cached)) === chunk.name)
      return { bytes: cached, fromCache: true, received: 0 };
    // IndexedDB is the cache: a second copy in the HTTP cache would double the disk a large model takes.
    const res = await client.request(`/api/model/chunk/${chunk.name}`, { cache: 'no-store' }, { what: `chunk ${chunk.name.slice(0, 12)}` });
    if (!res.ok) throw new Error(`the node answered ${res.status} for weight chunk ${chunk.name.slice(0, 12)}`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const digest = await sha256Hex(bytes);
    if (digest !== chunk.name || bytes.length !== chunk.size) {
      throw new Error(
        `weight chunk ${chunk.name.slice(0, 12)} arrived corrupted (sha256 ${digest.slice(0, 12)}, ${bytes.length} bytes); try again`,
      );
    }
    await this.put(chunk.name, bytes);
    return { bytes, fromCache: false, received: bytes.length };
  }
}
