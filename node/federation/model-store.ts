/**
 * The coordinator's model versions on disk, in its data folder:
 * `federation/chunks/<sha256>` (content-addressed, shared by every version that has the same bytes),
 * `federation/versions/<version>.json` (the signed manifest), `federation/momentum/<version>.bin` (the outer momentum
 * after that version: a replica that meets another try of a version recomputes it from its parent's) and
 * `federation/updates/<sha256>` (every accepted update's bytes, by the digest its contribution records: what anyone
 * needs to recompute the versions, served at GET /api/update/:digest).
 * Files are written to a temporary name, synced and renamed, so a crash never leaves a partial chunk or manifest.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Address } from '../../protocol/address.js';
import { toChecksumAddress } from '../../protocol/address.js';
import { toHex } from '../../protocol/bytes.js';
import { signDigest } from '../../protocol/signature.js';
import { paramSpecs, type ModelConfig } from '../../trainer/model/config.js';
import { initWeights, type Weights } from '../../trainer/model/weights.js';
import {
  chunkBytesFor,
  chunkLayout,
  manifestDigest,
  manifestSigningDigest,
  MODEL_MANIFEST_FORMAT,
  placeChunk,
  weightBytes,
  type ModelManifest,
  type SignedModelManifest,
} from '../../trainer/federated/model-manifest.js';
import writeFileAtomic from 'write-file-atomic';

const CHUNK_NAME = /^[0-9a-f]{64}$/;

/** The seed of version 0's weights: the genesis model is `initWeights(presetConfig(spec.model), GENESIS_INIT_SEED)`. */
export const GENESIS_INIT_SEED = 1;

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The manifest of `version` of `model` with these weights: a pure function of its inputs, so a version's manifest
 * digest (what its `model_version` records) can be recomputed anywhere from its weights. Each chunk's bytes go to
 * `onChunk` as they are made (one chunk in memory at a time: ailo-1b's 3.3 GB are not copied whole).
 */
export function buildManifest(
  model: string,
  cfg: ModelConfig,
  version: number,
  weights: Weights,
  onChunk?: (name: string, bytes: Uint8Array, index: number, count: number) => void,
): { manifest: ModelManifest; digest: `0x${string}` } {
  const totalBytes = 4 * paramSpecs(cfg).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  const { tensorMap, bounds } = chunkLayout(cfg, chunkBytesFor(totalBytes));
  const chunks = bounds.map(({ offset, size }, i) => {
    const bytes = weightBytes(cfg, weights, tensorMap, offset, size);
    const name = sha256Hex(bytes);
    onChunk?.(name, bytes, i, bounds.length);
    return { name, offset, size };
  });
  const manifest: ModelManifest = { format: MODEL_MANIFEST_FORMAT, model, version, config: { ...cfg }, totalBytes, chunks, tensorMap };
  return { manifest, digest: manifestDigest(manifest) };
}

export class ModelStore {
  readonly chunkDir: string;
  private readonly versionDir: string;
  private readonly updateDir: string;
  private readonly momentumDir: string;

  constructor(readonly dir: string) {
    this.chunkDir = join(dir, 'chunks');
    this.versionDir = join(dir, 'versions');
    this.updateDir = join(dir, 'updates');
    this.momentumDir = join(dir, 'momentum');
    for (const d of [this.chunkDir, this.versionDir, this.updateDir, this.momentumDir]) mkdirSync(d, { recursive: true });
  }

  /** Whether an update's bytes (by sha256 hex, without 0x) are kept here. */
  hasUpdate(digest: string): boolean {
    return existsSync(this.updatePath(digest));
  }

  /**
   * An update's bytes by sha256 (hex, without 0x), or undefined when not kept here. A file whose bytes no longer
   * hash to its name (damaged on disk) is removed and reads as not kept, so that it is fetched again.
   */
  readUpdate(digest: string): Uint8Array | undefined {
    const path = this.updatePath(digest);
    if (!existsSync(path)) return undefined;
    const bytes = new Uint8Array(readFileSync(path));
    if (sha256Hex(bytes) === digest) return bytes;
    rmSync(path, { force: true });
    return undefined;
  }

  /** Keeps an accepted update's bytes under their sha256 (hex, without 0x). */
  putUpdate(digest: string, bytes: Uint8Array): void {
    const path = this.updatePath(digest);
    if (!existsSync(path)) writeFileAtomic.sync(path, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  /** The path of an update's bytes by sha256 (hex, without 0x); RangeError for anything else. */
  updatePath(digest: string): string {
    if (!CHUNK_NAME.test(digest)) throw new RangeError(`update digest ${digest} is not a sha256`);
    return join(this.updateDir, digest);
  }

  static isChunkName(name: string): boolean {
    return CHUNK_NAME.test(name);
  }

  chunkPath(name: string): string {
    if (!CHUNK_NAME.test(name)) throw new RangeError(`chunk name ${name} is not a sha256`);
    return join(this.chunkDir, name);
  }

  /** Writes the chunks that are not stored yet and the signed manifest of `version`; `onChunk` is told each chunk written. */
  publish(
    model: string,
    cfg: ModelConfig,
    version: number,
    weights: Weights,
    key: Uint8Array,
    coordinator: Address,
    onChunk?: (index: number, count: number) => void,
  ): SignedModelManifest {
    for (const [name, w] of weights) {
      for (let k = 0; k < w.length; k++)
        if (!Number.isFinite(w[k]!)) throw new RangeError(`refusing to publish version ${version}: tensor ${name} value ${k} is ${w[k]}`);
    }
    const { manifest, digest } = buildManifest(model, cfg, version, weights, (name, bytes, i, n) => {
      const path = join(this.chunkDir, name);
      if (!existsSync(path)) writeFileAtomic.sync(path, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      onChunk?.(i, n);
    });
    const signed: SignedModelManifest = {
      type: 'sharded',
      version,
      manifest,
      manifestDigest: digest,
      coordinator: toChecksumAddress(coordinator),
      signature: toHex(signDigest(manifestSigningDigest(digest), key)),
    };
    writeFileAtomic.sync(join(this.versionDir, `${version}.json`), JSON.stringify(signed));
    return signed;
  }

  load(version: number): SignedModelManifest | undefined {
    const path = join(this.versionDir, `${version}.json`);
    if (!existsSync(path)) return undefined;
    return JSON.parse(readFileSync(path, 'utf8')) as SignedModelManifest;
  }

  /** Reads a version's weights, checking every chunk's digest. */
  weights(signed: SignedModelManifest): Weights {
    const w: Weights = new Map();
    for (const chunk of signed.manifest.chunks) {
      const bytes = readFileSync(this.chunkPath(chunk.name));
      if (bytes.length !== chunk.size || sha256Hex(bytes) !== chunk.name) throw new Error(`stored chunk ${chunk.name} is corrupt`);
      placeChunk(signed.manifest, w, chunk, bytes);
    }
    return w;
  }

  versions(): number[] {
    return readdirSync(this.versionDir)
      .flatMap((f) => (/^[0-9]+\.json$/.test(f) ? [Number(f.slice(0, -5))] : []))
      .sort((a, b) => a - b);
  }

  /** Drops manifests and momentum below `keepFrom` and the chunks no kept manifest names. */
  prune(keepFrom: number): void {
    const keep = new Set<string>();
    for (const v of this.versions()) {
      if (v < keepFrom) rmSync(join(this.versionDir, `${v}.json`), { force: true });
      else for (const c of this.load(v)!.manifest.chunks) keep.add(c.name);
    }
    for (const f of readdirSync(this.chunkDir)) if (!keep.has(f)) rmSync(join(this.chunkDir, f), { force: true });
    for (const f of readdirSync(this.momentumDir))
      if (/^[0-9]+\.bin$/.test(f) && Number(f.slice(0, -4)) < keepFrom) rmSync(join(this.momentumDir, f), { force: true });
  }

  /** Keeps the outer momentum after `version` (every tensor of `cfg`, float32, in paramSpecs order). */
  saveMomentum(version: number, cfg: ModelConfig, momentum: Weights): void {
    const specs = paramSpecs(cfg);
    const total = specs.reduce((n, s) => n + momentum.get(s.name)!.length, 0);
    const bytes = new Uint8Array(8 + 4 * total);
    new DataView(bytes.buffer).setFloat64(0, version, true);
    let p = 8;
    for (const s of specs) {
      const t = momentum.get(s.name)!;
      bytes.set(new Uint8Array(t.buffer, t.byteOffset, t.byteLength), p);
      p += t.byteLength;
    }
    writeFileAtomic.sync(join(this.momentumDir, `${version}.bin`), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }

  /** The outer momentum saved with `version`, or undefined (start from zero) when it is not kept. */
  loadMomentum(version: number, cfg: ModelConfig): Weights | undefined {
    let path = join(this.momentumDir, `${version}.bin`);
    // A folder written before momentum was kept per version holds the latest one in momentum.bin.
    if (!existsSync(path)) path = join(this.dir, 'momentum.bin');
    if (!existsSync(path)) return undefined;
    const bytes = readFileSync(path);
    if (bytes.length < 8 || new DataView(bytes.buffer, bytes.byteOffset).getFloat64(0, true) !== version) return undefined;
    const out: Weights = new Map();
    let p = 8;
    for (const s of paramSpecs(cfg)) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      if (p + 4 * n > bytes.length) return undefined;
      out.set(s.name, new Float32Array(bytes.buffer.slice(bytes.byteOffset + p, bytes.byteOffset + p + 4 * n)));
      p += 4 * n;
    }
    return out;
  }
}

/**
 * Says `what` with its percentage at most every 10% (and at 100%), with the seconds since it started: the progress of
 * a long step in the log.
 */
function progressLine(log: (line: string) => void): (fraction: number, what: string) => void {
  const started = new Map<string, { at: number; said: number }>();
  return (fraction, what) => {
    const s = started.get(what) ?? { at: performance.now(), said: -1 };
    started.set(what, s);
    const step = Math.floor(fraction * 10);
    if (step === s.said) return;
    s.said = step;
    log(`${what}: ${Math.round(fraction * 100)}% (${((performance.now() - s.at) / 1000).toFixed(1)} s)`);
  };
}

/**
 * Version 0 of `model`: `initWeights(cfg, GENESIS_INIT_SEED)` (every node and auditor gets the same bytes), written
 * to `store` and signed by `coordinator`. On ailo-1b this takes about a minute and 3.3 GB, so `log` is told how far it
 * is (every 10%).
 */
export function makeGenesisVersion(
  store: ModelStore,
  model: string,
  cfg: ModelConfig,
  key: Uint8Array,
  coordinator: Address,
  log: (line: string) => void,
): { signed: SignedModelManifest; weights: Weights } {
  const say = progressLine(log);
  const params = paramSpecs(cfg).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  const weights = initWeights(cfg, GENESIS_INIT_SEED, (f) =>
    say(f, `making the genesis weights of ${model} (${params.toLocaleString('en-US')} parameters, seed ${GENESIS_INIT_SEED})`),
  );
  const signed = store.publish(model, cfg, 0, weights, key, coordinator, (i, n) =>
    say((i + 1) / n, `writing version 0 to ${store.chunkDir} (${n} chunks)`),
  );
  return { signed, weights };
}
