/**
 * A test network of several coordinators on ailo-tiny in which the test holds every coordinator's key: it writes the
 * genesis and each node's key file, signs `contribution` and `model_version` transactions as any coordinator, and
 * seals blocks on a node's head as any of them (model-replica.test.ts, replica-stall.test.ts).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeBlock, sealBlock, txRootOf, type Block } from '../../chain/block/block.js';
import type { Chain } from '../../chain/chain.js';
import { earliestTimestamp } from '../../chain/consensus/clique.js';
import { contributionReward } from '../../chain/rewards.js';
import type { ChainSpec } from '../../chain/spec.js';
import { applyTx } from '../../chain/state/transition.js';
import { StateOverlay } from '../../chain/state/world-state.js';
import { signTx } from '../../chain/tx/sign.js';
import type { ContributionTx, Hash, ModelVersionTx, SignedTx } from '../../chain/tx/types.js';
import { genesisFor } from '../../genesis/devnet.js';
import { formatGenesis } from '../../genesis/genesis.js';
import type { Address } from '../../protocol/address.js';
import { toHex, type Hex } from '../../protocol/bytes.js';
import type { OuterStepRecord } from '../../trainer/federated/outer-optimizer.js';
import { gossipTo, networkOfGenesis, type TestNet } from './harness.js';
import type { AiloNode } from '../node.js';

export interface Signer {
  key: Uint8Array;
  address: Address;
}

/**
 * Another coordinator `sealer` sealing `txs` on `node`'s head and gossiping the block to it, as a peer would, once the
 * clique rules let it (not twice in a row, not before its earliest time). Whether the node took the block.
 */
export async function sealAsPeer(node: AiloNode, sealer: Signer, txs: SignedTx[]): Promise<boolean> {
  const head = node.chain.head.header;
  if (head.proposer === sealer.address) return false;
  if (BigInt(Date.now()) < earliestTimestamp(node.chain.spec, head, sealer.address)) return false;
  const r = await gossipTo(node, '/api/p2p/block', encodeBlock(sealOnHead(node.chain, txs, sealer)), undefined);
  return r.status < 300;
}

/** A block sealed by `sealer` on `chain`'s head holding `txs` (its state root computed like the producer does). */
export function sealOnHead(chain: Chain, txs: SignedTx[], sealer: Signer): Block {
  const overlay = new StateOverlay(chain.state);
  for (const t of txs) applyTx(overlay, t, chain.spec);
  const due = earliestTimestamp(chain.spec, chain.head.header, sealer.address);
  const now = BigInt(Date.now());
  return sealBlock(
    {
      chainId: chain.spec.chainId,
      height: chain.height + 1n,
      parentHash: chain.head.hash,
      timestamp: now > due ? now : due,
      proposer: sealer.address,
      txRoot: txRootOf(txs),
      stateRoot: toHex(chain.state.rootWith([...overlay.changes.values()])),
    },
    txs,
    sealer.key,
  );
}

/**
 * A genesis naming `coordinators` (100 ms blocks, ailo-tiny) written to a fresh temp folder, with `alloc`; `netFor`
 * writes a coordinator's key file and gives what startTestNode takes; `txs` signs transactions for `miner`'s work.
 */
export function replicaNet(
  name: string,
  chainId: bigint,
  coordinators: Signer[],
  miner: Signer,
  alloc: bigint,
): {
  root: string;
  network: TestNet['network'];
  netFor: (who: Signer, name: string) => TestNet;
  contribution: (digest: Hex, length: number, by: Signer, rewards: ChainSpec['rewards'], shard?: Hex) => SignedTx;
  modelVersion: (version: number, contributions: Hash[], digest: Hex, step: OuterStepRecord, by: Signer) => SignedTx;
} {
  const root = mkdtempSync(join(tmpdir(), `${name}-`));
  const genesisText = formatGenesis(
    genesisFor({
      name,
      chainId,
      coordinators: coordinators.map((c) => c.address),
      alloc: new Map([[miner.address, alloc]]),
      blockPeriodMs: 100,
      outOfTurnDelayMs: 100,
      timestamp: 1_700_000_000_000n,
      model: 'ailo-tiny',
    }),
  );
  const network = networkOfGenesis(genesisText);
  const genesisPath = join(root, 'genesis.json');
  writeFileSync(genesisPath, genesisText);
  let taskN = 0;
  return {
    root,
    network,
    netFor: (who, keyName) => {
      const keyPath = join(root, `${keyName}.key`);
      writeFileSync(keyPath, toHex(who.key));
      return { root, genesisPath, keyPath, network, remove: () => undefined };
    },
    // A contribution to version 0's round for `miner`, accepted (signed) by `by`, on a fresh task id.
    contribution: (digest, length, by, rewards, shard = `0x${'ab'.repeat(32)}`) => {
      const quality = 1000;
      taskN++;
      return signTx(
        {
          type: 'contribution',
          coordinator: by.address,
          miner: miner.address,
          taskId: `0x${taskN.toString(16).padStart(64, '0')}`,
          modelVersion: 0n,
          shard,
          offset: BigInt(taskN * 1000),
          length: BigInt(length),
          gradientDigest: digest,
          quality,
          reward: contributionReward(rewards, quality),
        } satisfies Omit<ContributionTx, 'signature'>,
        by.key,
        network,
      );
    },
    modelVersion: (version, contributions, digest, step, by) =>
      signTx(
        {
          type: 'model_version',
          coordinator: by.address,
          version: BigInt(version),
          parentVersion: BigInt(version - 1),
          manifestDigest: digest,
          contributions,
          ...step,
        } satisfies Omit<ModelVersionTx, 'signature'>,
        by.key,
        network,
      ),
  };
}
