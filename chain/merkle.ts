/**
 * Binary Merkle trees over 32-byte leaves (transaction hashes), with inclusion proofs.
 * Leaves and inner nodes are hashed with distinct prefixes, and an odd node is carried up unpaired
 * rather than duplicated, so no two different leaf lists share a root.
 */
import { bytesEqual, fromHex, toHex, type Hex } from '../protocol/bytes.js';
import { keccak256 } from '../protocol/keccak.js';

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);
export const EMPTY_ROOT = keccak256(new Uint8Array(0));

export interface MerkleProofStep {
  /** The sibling's hash, and whether it sits left of the running hash. */
  sibling: Hex;
  left: boolean;
}

function levels(leaves: Uint8Array[]): Uint8Array[][] {
  const out: Uint8Array[][] = [leaves.map((l) => keccak256(LEAF, l))];
  while (out[out.length - 1]!.length > 1) {
    const prev = out[out.length - 1]!;
    const next: Uint8Array[] = [];
    for (let i = 0; i < prev.length; i += 2) next.push(i + 1 < prev.length ? keccak256(NODE, prev[i]!, prev[i + 1]!) : prev[i]!);
    out.push(next);
  }
  return out;
}

export function merkleRoot(leaves: Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return EMPTY_ROOT;
  const all = levels(leaves);
  return all[all.length - 1]![0]!;
}

export function merkleProof(leaves: Uint8Array[], index: number): MerkleProofStep[] {
  if (index < 0 || index >= leaves.length) throw new RangeError(`leaf index ${index} out of range`);
  const proof: MerkleProofStep[] = [];
  let i = index;
  for (const level of levels(leaves).slice(0, -1)) {
    const sibling = i ^ 1;
    if (sibling < level.length) proof.push({ sibling: toHex(level[sibling]!), left: sibling < i });
    i >>= 1;
  }
  return proof;
}

export function verifyMerkleProof(leaf: Uint8Array, proof: MerkleProofStep[], root: Uint8Array): boolean {
  let h = keccak256(LEAF, leaf);
  for (const step of proof) {
    const s = fromHex(step.sibling, 32);
    h = step.left ? keccak256(NODE, s, h) : keccak256(NODE, h, s);
  }
  return bytesEqual(h, root);
}
