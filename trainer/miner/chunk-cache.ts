/**
 * The miner's weight cache: chunks on disk named by their sha256, verified before use. A chunk that is already
 * cached is never downloaded again; a download cut short resumes from its `.part` file with a Range request.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelChunk } from '../federated/model-manifest.js';
import type { NodeClient } from '../../protocol/client.js';
import type { ChunkSource, FetchedChunk } from './miner-loop.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export class ChunkCache implements ChunkSource {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }

  path(name: string): string {
    if (!/^[0-9a-f]{64}$/.test(name)) throw new RangeError(`chunk name ${name} is not a sha256`);
    return join(this.dir, name);
  }

  /** The chunk's bytes if cached and intact; a corrupt copy is deleted. */
  read(chunk: ModelChunk): Uint8Array | undefined {
    const path = this.path(chunk.name);
    if (!existsSync(path)) return undefined;
    const bytes = new Uint8Array(readFileSync(path));
    if (bytes.length === chunk.size && sha256(bytes) === chunk.name) return bytes;
    rmSync(path, { force: true });
    return undefined;
  }

  async fetch(chunk: ModelChunk, client: NodeClient): Promise<FetchedChunk> {
    const cached = this.read(chunk);
    if (cached) return { bytes: cached, fromCache: true, received: 0 };
    const part = `${this.path(chunk.name)}.part`;
    let have = existsSync(part) ? statSync(part).size : 0;
    if (have >= chunk.size) {
      rmSync(part, { force: true });
      have = 0;
    }
    const headers: Record<string, string> = have > 0 ? { range: `bytes=${have}-` } : {};
    const res = await client.bytes(`/api/model/chunk/${chunk.name}`, headers, { what: `chunk ${chunk.name.slice(0, 12)}` });
    const resumed = have > 0 && res.status === 206;
    if (have > 0 && !resumed) rmSync(part, { force: true });
    appendFileSync(part, res.bytes);
    const bytes = new Uint8Array(readFileSync(part));
    if (bytes.length !== chunk.size || sha256(bytes) !== chunk.name) {
      rmSync(part, { force: true });
      throw new Error(`chunk ${chunk.name} from the node does not match its digest; it will be fetched again`);
    }
    renameSync(part, this.path(chunk.name));
    return { bytes, fromCache: false, resumed, received: res.bytes.length };
  }
}
