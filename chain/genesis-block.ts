/**
 * The genesis block of a ChainSpec: height 0, no proposer and no signature, the allocations as its state.
 * Its parentHash is the hash of the canonical encoding of the whole spec, so chains that differ in any
 * parameter (coordinators, rewards, period) have different genesis hashes and never sync with each other.
 */
import { addressToBytes, ZERO_ADDRESS } from '../protocol/address.js';
import { compareBytes, fromHex, toHex, type Hex } from '../protocol/bytes.js';
import { keccak256 } from '../protocol/keccak.js';
import { encodeRlp, uintToRlp } from './encoding/rlp.js';
import { blockHash, type Block, type BlockHeader } from './block/block.js';
import { EMPTY_ROOT } from './merkle.js';
import type { ChainSpec } from './spec.js';
import { StateOverlay, WorldState } from './state/world-state.js';
import type { StateChange } from './state/state-tree.js';
import type { NetworkDomain } from './tx/eip712.js';

const encoder = new TextEncoder();

export function specHash(spec: ChainSpec): Hex {
  const alloc = [...spec.alloc.entries()]
    .map(([a, v]) => [addressToBytes(a), uintToRlp(v)] as [Uint8Array, Uint8Array])
    .sort((x, y) => compareBytes(x[0], y[0]));
  const r = spec.rewards;
  return toHex(
    keccak256(
      encodeRlp([
        encoder.encode('ailo-genesis-v1'),
        uintToRlp(spec.chainId),
        spec.coordinators.map(addressToBytes),
        alloc,
        uintToRlp(spec.blockPeriodMs),
        uintToRlp(spec.outOfTurnDelayMs),
        uintToRlp(spec.genesisTimestamp),
        [
          uintToRlp(r.contributionBase),
          uintToRlp(r.minQuality),
          uintToRlp(r.maxQuality),
          uintToRlp(r.inferenceShare),
          uintToRlp(r.maxStaleness),
        ],
        encoder.encode(spec.model),
        fromHex(spec.genesisModelDigest, 32),
      ]),
    ),
  );
}

export interface GenesisBlock {
  block: Block;
  stateChanges: StateChange[];
}

export function genesisBlock(spec: ChainSpec): GenesisBlock {
  const overlay = new StateOverlay(new WorldState());
  let supply = 0n;
  for (const [address, amount] of spec.alloc) {
    overlay.setAccount(address, { balance: amount, nonce: 0n });
    supply += amount;
  }
  overlay.setMeta({ latestModelVersion: 0n, totalSupply: supply });
  const stateChanges = [...overlay.changes.values()];
  const header: BlockHeader = {
    chainId: spec.chainId,
    height: 0n,
    parentHash: specHash(spec),
    timestamp: spec.genesisTimestamp,
    proposer: ZERO_ADDRESS,
    txRoot: toHex(EMPTY_ROOT),
    stateRoot: toHex(new WorldState().rootWith(stateChanges)),
  };
  const signature = new Uint8Array(0);
  return { block: { header, signature, txs: [], hash: blockHash(header, signature) }, stateChanges };
}

const domains = new WeakMap<ChainSpec, NetworkDomain>();

/** The network a spec defines, as signatures bind it (chainId and genesis hash); computed once per spec. */
export function networkDomain(spec: ChainSpec): NetworkDomain {
  let network = domains.get(spec);
  if (!network) {
    network = { chainId: spec.chainId, genesisHash: genesisBlock(spec).block.hash };
    domains.set(spec, network);
  }
  return network;
}
