/**
 * A published model version as a manifest plus content-addressed chunks (browser-safe). The weights, float32
 * little-endian in parameter order, form one byte stream; `tensorMap` places each tensor in it and `chunks` cut it
 * into pieces named by their sha256. Whole tensors are packed into chunks where they fit, so a tensor that did not
 * change between versions keeps its chunk's digest. The manifest's digest is sha256 of its canonical JSON, and the
 * coordinator signs keccak256("Ailo model manifest v1\n" || digest).
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import { fromHex } from '../../protocol/bytes.js';
import type { NodeClient } from '../../protocol/client.js';
import { keccak256 } from '../../protocol/keccak.js';
import { recoverAddressJs } from '../../protocol/signature.js';
import { numel, paramCount, paramSpecs, presetConfig, type ModelConfig } from '../model/config.js';
import type { Weights } from '../model/weights.js';

export const MODEL_MANIFEST_FORMAT = 'ailo-model/1';
/** About 90 MB per chunk for ailo-1b; smaller configs get proportionally smaller chunks. */
export const AILO_1B_CHUNK_BYTES = 90 * 1024 * 1024;
const MIN_CHUNK_BYTES = 64 * 1024;

export interface ModelChunk {
  /** Lowercase hex sha256 of the chunk's bytes: its name in /api/model/chunk/:name. */
  name: string;
  offset: number;
  size: number;
}

export interface TensorPlacement {
  shape: number[];
  dtype: 'float32';
  offset: number;
  size: number;
}

export interface ModelManifest {
  format: typeof MODEL_MANIFEST_FORMAT;
  model: string;
  version: number;
  config: ModelConfig;
  totalBytes: number;
  chunks: ModelChunk[];
  tensorMap: Record<string, TensorPlacement>;
}

/** What GET /api/model answers. */
export interface SignedModelManifest {
  type: 'sharded';
  version: number;
  manifest: ModelManifest;
  manifestDigest: `0x${string}`;
  coordinator: string;
  signature: `0x${string}`;
}

export function chunkBytesFor(totalBytes: number): number {
  return Math.max(MIN_CHUNK_BYTES, Math.round((AILO_1B_CHUNK_BYTES * totalBytes) / (4 * paramCount(presetConfig('ailo-1b')))));
}

/** Chunk boundaries: whole tensors packed up to `chunkBytes`, a larger tensor cut into `chunkBytes` pieces. */
export function chunkLayout(
  cfg: ModelConfig,
  chunkBytes: number,
): { tensorMap: Record<string, TensorPlacement>; bounds: { offset: number; size: number }[]; totalBytes: number } {
  const tensorMap: Record<string, TensorPlacement> = {};
  const bounds: { offset: number; size: number }[] = [];
  let offset = 0;
  let open: { offset: number; size: number } | undefined;
  for (const spec of paramSpecs(cfg)) {
    const size = 4 * numel(spec.shape);
    tensorMap[spec.name] = { shape: [...spec.shape], dtype: 'float32', offset, size };
    if (size > chunkBytes) {
      if (open) bounds.push(open);
      open = undefined;
      for (let o = 0; o < size; o += chunkBytes) bounds.push({ offset: offset + o, size: Math.min(chunkBytes, size - o) });
    } else if (open && open.size + size <= chunkBytes) {
      open.size += size;
    } else {
      if (open) bounds.push(open);
      open = { offset, size };
    }
    offset += size;
  }
  if (open) bounds.push(open);
  return { tensorMap, bounds, totalBytes: offset };
}

/** The float32 little-endian bytes of [offset, offset + size) of the weight stream. */
export function weightBytes(
  cfg: ModelConfig,
  weights: Weights,
  tensorMap: Record<string, TensorPlacement>,
  offset: number,
  size: number,
): Uint8Array {
  const out = new Uint8Array(size);
  for (const spec of paramSpecs(cfg)) {
    const place = tensorMap[spec.name]!;
    const start = Math.max(offset, place.offset);
    const end = Math.min(offset + size, place.offset + place.size);
    if (start >= end) continue;
    const t = weights.get(spec.name)!;
    const bytes = new Uint8Array(t.buffer, t.byteOffset, t.byteLength);
    out.set(bytes.subarray(start - place.offset, end - place.offset), start - offset);
  }
  return out;
}

/** Copies a chunk's bytes into the tensors it covers (the inverse of weightBytes). */
export function placeChunk(manifest: ModelManifest, weights: Weights, chunk: ModelChunk, bytes: Uint8Array): void {
  for (const [name, place] of Object.entries(manifest.tensorMap)) {
    const start = Math.max(chunk.offset, place.offset);
    const end = Math.min(chunk.offset + chunk.size, place.offset + place.size);
    if (start >= end) continue;
    let t = weights.get(name);
    if (!t) {
      t = new Float32Array(place.size / 4);
      weights.set(name, t);
    }
    new Uint8Array(t.buffer, t.byteOffset, t.byteLength).set(
      bytes.subarray(start - chunk.offset, end - chunk.offset),
      start - place.offset,
    );
  }
}

export function canonicalManifestJson(m: ModelManifest): string {
  const tensorMap: Record<string, TensorPlacement> = {};
  for (const [name, p] of Object.entries(m.tensorMap))
    tensorMap[name] = { shape: [...p.shape], dtype: p.dtype, offset: p.offset, size: p.size };
  const c = m.config;
  return JSON.stringify({
    format: m.format,
    model: m.model,
    version: m.version,
    config: {
      vocab_size: c.vocab_size,
      n_positions: c.n_positions,
      n_embd: c.n_embd,
      n_layer: c.n_layer,
      n_head: c.n_head,
      n_inner: c.n_inner,
      layer_norm_epsilon: c.layer_norm_epsilon,
    },
    totalBytes: m.totalBytes,
    chunks: m.chunks.map((k) => ({ name: k.name, offset: k.offset, size: k.size })),
    tensorMap,
  });
}

export function manifestDigest(m: ModelManifest): `0x${string}` {
  return `0x${bytesToHex(sha256(utf8ToBytes(canonicalManifestJson(m))))}`;
}

/** The 32-byte digest a coordinator signs to publish a manifest. */
export function manifestSigningDigest(digest: `0x${string}`): Uint8Array {
  const prefix = utf8ToBytes('Ailo model manifest v1\n');
  const d = digest.slice(2);
  const bytes = new Uint8Array(prefix.length + 32);
  bytes.set(prefix);
  for (let i = 0; i < 32; i++) bytes[prefix.length + i] = parseInt(d.slice(2 * i, 2 * i + 2), 16);
  return keccak256(bytes);
}

/** Checks a manifest's structure against its config: every tensor placed, the chunks covering the stream. */
export function checkManifest(m: ModelManifest): string | undefined {
  if (m.format !== MODEL_MANIFEST_FORMAT) return `manifest format ${String(m.format)} is not ${MODEL_MANIFEST_FORMAT}`;
  let specs;
  try {
    specs = paramSpecs(m.config);
  } catch (err) {
    return `manifest config: ${(err as Error).message}`;
  }
  let offset = 0;
  for (const s of specs) {
    const p = m.tensorMap[s.name];
    if (!p || p.offset !== offset || p.size !== 4 * numel(s.shape)) return `manifest places tensor ${s.name} wrongly`;
    offset += p.size;
  }
  if (m.totalBytes !== offset) return `manifest totalBytes ${m.totalBytes} is not ${offset}`;
  let at = 0;
  for (const c of m.chunks) {
    if (!/^[0-9a-f]{64}$/.test(c.name)) return `chunk name ${String(c.name).slice(0, 80)} is not a sha256`;
    if (c.offset !== at || !(c.size > 0)) return `chunk ${c.name} does not continue the stream at ${at}`;
    at += c.size;
  }
  if (at !== m.totalBytes) return `chunks cover ${at} of ${m.totalBytes} bytes`;
  return undefined;
}

/** The chain's coordinators (lowercase addresses), from GET /api/chain/genesis: who may sign a model version. */
export async function fetchCoordinators(client: NodeClient): Promise<Set<string>> {
  const genesis = await client.json<{ coordinators: string[] }>('/api/chain/genesis', {}, { what: 'genesis' });
  return new Set(genesis.coordinators.map((a) => a.toLowerCase()));
}

/**
 * The signed manifest of `version` (the latest when undefined) from GET `path` (default /api/model), checked as both miners check it:
 * its layout (checkManifest), its digest, and its signature by one of `coordinators` (lowercase addresses). Throws an
 * Error saying which check failed; a refusal of the node throws its NodeError.
 */
export async function fetchVerifiedManifest(
  client: NodeClient,
  coordinators: ReadonlySet<string>,
  version?: number,
  path = '/api/model',
): Promise<SignedModelManifest> {
  const signed = await client.json<SignedModelManifest>(
    `${path}${version === undefined ? '' : `?version=${version}`}`,
    {},
    { what: 'model manifest' },
  );
  const problem = checkManifest(signed.manifest);
  if (problem) throw new Error(`the node's model manifest is malformed: ${problem}`);
  const digest = manifestDigest(signed.manifest);
  if (digest !== signed.manifestDigest)
    throw new Error(`the model manifest's digest is ${digest}, not the ${signed.manifestDigest} it claims`);
  const signer = /^0x[0-9a-fA-F]{130}$/.test(signed.signature)
    ? recoverAddressJs(manifestSigningDigest(digest), fromHex(signed.signature, 65))
    : null;
  if (!signer || !coordinators.has(signer)) {
    throw new Error(`model version ${signed.version} is signed by ${signer ?? 'no valid key'}, who is not a coordinator of this chain`);
  }
  return signed;
}
