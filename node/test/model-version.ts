/**
 * Test helper: a coordinator's next model version that differs from the current one in a single tensor, so a test
 * can check that miners download only the chunks that changed (an outer step on ailo-tiny changes every chunk).
 * It goes through the real path: the node's model store writes the chunks and the signed manifest, and a
 * `model_version` transaction puts it on the ledger; the node serves it once restarted (as after a crash).
 */
import { signTx } from '../../chain/tx/sign.js';
import type { ModelVersionTx } from '../../chain/tx/types.js';
import type { SignedModelManifest } from '../../trainer/federated/model-manifest.js';
import type { Weights } from '../../trainer/model/weights.js';
import type { AiloNode } from '../node.js';
import { coordinator, waitFor } from './harness.js';

export interface OneTensorVersion {
  parent: SignedModelManifest;
  signed: SignedModelManifest;
  /** The new version's weights. */
  weights: Weights;
  /** Chunk names the new version has and its parent has not. */
  changedChunks: string[];
}

/** Publishes version N+1 = version N with `delta` added to every value of `tensor`, and waits for its block. */
export async function publishOneTensorVersion(node: AiloNode, tensor: string, delta = 0.01): Promise<OneTensorVersion> {
  const fed = node.federation!;
  const parent = fed.model;
  const weights: Weights = new Map(fed.store.weights(parent));
  const values = weights.get(tensor);
  if (!values) throw new Error(`the model has no tensor ${tensor}`);
  weights.set(
    tensor,
    values.map((v) => v + delta),
  );
  const version = parent.version + 1;
  const spec = node.chain.spec;
  const signed = fed.store.publish(spec.model, fed.modelConfig, version, weights, coordinator.key, coordinator.address);
  const tx = signTx(
    {
      type: 'model_version',
      coordinator: coordinator.address,
      version: BigInt(version),
      parentVersion: BigInt(parent.version),
      manifestDigest: signed.manifestDigest,
      // Not an aggregate of anything: a hand-made version for tests of how versions reach miners (`ailo audit
      // --models` would name it, since its weights are not its parent's).
      contributions: [],
      outerLrPpm: 0,
      momentumRestart: true,
    } satisfies Omit<ModelVersionTx, 'signature'>,
    coordinator.key,
    node.ledger.network,
  );
  await node.ledger.submit(tx);
  await waitFor(`model version ${version} in a block`, async () =>
    node.chain.view().meta().latestModelVersion === BigInt(version) ? true : undefined,
  );
  const before = new Set(parent.manifest.chunks.map((c) => c.name));
  return { parent, signed, weights, changedChunks: signed.manifest.chunks.map((c) => c.name).filter((n) => !before.has(n)) };
}
