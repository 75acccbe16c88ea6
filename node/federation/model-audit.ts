/**
 * Recomputing the model history (`ailo audit --models`): from the genesis weights (the genesis model's config,
 * initialised with GENESIS_INIT_SEED), each `model_version` in chain order is replayed with `applyRound` on the
 * updates its contributions name (fetched by the digest each contribution records, checked against it) and the
 * outer step it records; the result's manifest digest must be the one the version records. The first version that
 * does not match is named, with why. Needs no trust in the coordinator that published the versions: only the chain
 * (audited first) and the update bytes, which are checked against their digests.
 */
import type { Block } from '../../chain/block/block.js';
import type { ChainSpec } from '../../chain/spec.js';
import type { ContributionTx, Hash, ModelVersionTx } from '../../chain/tx/types.js';
import type { Hex } from '../../protocol/bytes.js';
import { decodeUpdate, type TensorSizes } from '../../trainer/codec/update-codec.js';
import { applyRound, type WeightedUpdate } from '../../trainer/federated/outer-optimizer.js';
import { numel, paramSpecs, presetConfig, type ModelConfig } from '../../trainer/model/config.js';
import { initWeights, type Weights } from '../../trainer/model/weights.js';
import { buildManifest, GENESIS_INIT_SEED, sha256Hex } from './model-store.js';

/** What the model audit needs from the chain, gathered while the chain audit replays it (`visit`). */
export class ModelHistory {
  readonly contributions = new Map<Hash, ContributionTx>();
  readonly versions: ModelVersionTx[] = [];

  /** Takes a replayed block's contributions and model versions (blocks in order). */
  visit(block: Block): void {
    for (const { tx, hash } of block.txs) {
      if (tx.type === 'contribution') this.contributions.set(hash, tx);
      else if (tx.type === 'model_version') this.versions.push(tx);
    }
  }
}

/**
 * The update source failed (did not answer, or served bytes that are not the recorded digest's): the source is at
 * fault, not the version, which is left unjudged.
 */
export class UpdateSourceError extends Error {
  override name = 'UpdateSourceError';
  constructor(
    readonly version: number,
    readonly contribution: Hash,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`version ${version} not checked: the update of contribution ${contribution} ${message}`, options);
  }
}

/** A recomputed version: its weights, outer momentum and manifest digest (equal to the recorded one). */
export interface ReplayedVersion {
  weights: Weights;
  momentum: Weights;
  digest: Hex;
}

/**
 * Recomputes one `model_version` from its parent (`weights`, and `momentum`: undefined at version 0 or when lost,
 * which only a recorded momentum restart can use): each listed contribution is looked up with `contribution`, its
 * update fetched by the digest it records and checked against it, then `applyRound` with the recorded outer step and
 * `buildManifest`. Returns the version, or `{ why }` when the record is wrong (an unknown contribution, an update that
 * does not decode, another digest). Throws UpdateSourceError when `fetchUpdate` fails or serves other bytes: the
 * source's fault, which says nothing about the version.
 */
export async function replayVersion(
  model: string,
  cfg: ModelConfig,
  sizes: TensorSizes,
  parent: { weights: Weights; momentum: Weights | undefined },
  mv: ModelVersionTx,
  contribution: (hash: Hash) => ContributionTx | undefined,
  fetchUpdate: (digest: Hex) => Promise<Uint8Array>,
): Promise<ReplayedVersion | { why: string }> {
  const version = Number(mv.version);
  const updates: WeightedUpdate[] = [];
  for (const hash of mv.contributions) {
    const c = contribution(hash);
    if (!c) return { why: `contribution ${hash} is not on the chain before it` };
    let bytes: Uint8Array;
    try {
      bytes = await fetchUpdate(c.gradientDigest);
    } catch (err) {
      throw new UpdateSourceError(version, hash, `could not be fetched: ${(err as Error).message}`, { cause: err });
    }
    const digest = `0x${sha256Hex(bytes)}`;
    if (digest !== c.gradientDigest)
      throw new UpdateSourceError(
        version,
        hash,
        `was served with sha256 ${digest}, not the recorded ${c.gradientDigest} (the source's copy is damaged or forged)`,
      );
    try {
      updates.push({ update: decodeUpdate(bytes, sizes), tokens: Number(c.length) });
    } catch (err) {
      return { why: `the update of contribution ${hash} does not decode: ${(err as Error).message}` };
    }
  }
  const next = applyRound(parent.weights, parent.momentum, updates, { outerLrPpm: mv.outerLrPpm, momentumRestart: mv.momentumRestart });
  const { digest } = buildManifest(model, cfg, version, next.weights);
  if (digest !== mv.manifestDigest)
    return {
      why:
        `recomputed from version ${version - 1}, its ${updates.length} updates and outer lr ${mv.outerLrPpm / 1e6}` +
        `${mv.momentumRestart ? ' (momentum restarted)' : ''}, its manifest digest is ${digest}, not the recorded ${mv.manifestDigest}`,
    };
  return { weights: next.weights, momentum: next.momentum, digest };
}

export interface ModelAuditResult {
  /** Versions recomputed and found as recorded. */
  checked: number;
  /** Versions on the chain. */
  versions: number;
  /** The first version that does not match, and why; absent when all do. */
  mismatch?: { version: number; why: string };
}

/**
 * Replays `history` from the genesis weights (checked against the genesis spec's `genesisModelDigest` where it names
 * one: version 0). `fetchUpdate` returns an update's bytes by its sha256 (hex, with 0x, as the contribution records it);
 * they are checked against that digest here. `onVersion` is told each version checked. Throws UpdateSourceError when
 * the source fails or serves other bytes (its fault, not the version's).
 */
export async function auditModels(
  spec: ChainSpec,
  history: ModelHistory,
  fetchUpdate: (digest: Hex) => Promise<Uint8Array>,
  onVersion?: (version: number) => void,
): Promise<ModelAuditResult> {
  const cfg = presetConfig(spec.model);
  const sizes: TensorSizes = new Map(paramSpecs(cfg).map((s) => [s.name, numel(s.shape)]));
  let weights: Weights = initWeights(cfg, GENESIS_INIT_SEED);
  let momentum: Weights | undefined;
  const result: ModelAuditResult = { checked: 0, versions: history.versions.length };
  if (!/^0x0{64}$/.test(spec.genesisModelDigest ?? '0x' + '0'.repeat(64))) {
    const { digest } = buildManifest(spec.model, cfg, 0, weights);
    if (digest !== spec.genesisModelDigest)
      return {
        ...result,
        mismatch: {
          version: 0,
          why: `the genesis weights (seed ${GENESIS_INIT_SEED}) give ${digest}, not the genesis's ${spec.genesisModelDigest}`,
        },
      };
  }
  for (const mv of history.versions) {
    const version = Number(mv.version);
    const step = await replayVersion(spec.model, cfg, sizes, { weights, momentum }, mv, (h) => history.contributions.get(h), fetchUpdate);
    if ('why' in step) return { ...result, mismatch: { version, why: step.why } };
    ({ weights, momentum } = step);
    result.checked++;
    onVersion?.(version);
  }
  return result;
}
