import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual, fromHex, toHex } from '../protocol/bytes.js';
import { keccak256 } from '../protocol/keccak.js';
import { EMPTY_ROOT, merkleProof, merkleRoot, verifyMerkleProof } from './merkle.js';

const arbLeaves = (min: number, max: number) =>
  fc.uniqueArray(fc.uint8Array({ minLength: 32, maxLength: 32 }), { minLength: min, maxLength: max, selector: toHex });

describe('Merkle tree', () => {
  it('proves every index of random leaf sets of 1..40 leaves', () => {
    fc.assert(
      fc.property(arbLeaves(1, 40), (leaves) => {
        const root = merkleRoot(leaves);
        leaves.forEach((leaf, i) => {
          const proof = merkleProof(leaves, i);
          expect(proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(leaves.length)));
          expect(verifyMerkleProof(leaf, proof, root)).toBe(true);
        });
      }),
      { numRuns: 150 },
    );
  });

  it("refuses a wrong leaf, another index's leaf, a flipped direction and a wrong root", () => {
    fc.assert(
      fc.property(arbLeaves(2, 40), fc.nat(), fc.nat(), fc.uint8Array({ minLength: 32, maxLength: 32 }), (leaves, a, b, stranger) => {
        const i = a % leaves.length;
        const j = b % leaves.length;
        const root = merkleRoot(leaves);
        const proof = merkleProof(leaves, i);
        fc.pre(!leaves.some((l) => bytesEqual(l, stranger)));
        expect(verifyMerkleProof(stranger, proof, root)).toBe(false);
        if (j !== i) expect(verifyMerkleProof(leaves[j]!, proof, root)).toBe(false);
        const k = b % proof.length;
        const flipped = proof.map((s, n) => (n === k ? { ...s, left: !s.left } : s));
        expect(verifyMerkleProof(leaves[i]!, flipped, root)).toBe(false);
        expect(verifyMerkleProof(leaves[i]!, proof, merkleRoot(leaves.slice(1)))).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('gives different leaf lists different roots (reorder, append, duplicate last, drop)', () => {
    fc.assert(
      fc.property(arbLeaves(1, 20), (leaves) => {
        const root = toHex(merkleRoot(leaves));
        const variants = [[...leaves, leaves[leaves.length - 1]!], leaves.slice(0, -1), [...leaves, new Uint8Array(32)]];
        if (leaves.length > 1) variants.push([...leaves].reverse());
        for (const v of variants) expect(toHex(merkleRoot(v))).not.toBe(root);
      }),
      { numRuns: 200 },
    );
  });

  it('hashes leaves and nodes with distinct prefixes and carries an odd node up', () => {
    const [a, b, c] = [1, 2, 3].map((n) => new Uint8Array(32).fill(n)) as [Uint8Array, Uint8Array, Uint8Array];
    const leaf = (x: Uint8Array) => keccak256(Uint8Array.of(0), x);
    const node = (l: Uint8Array, r: Uint8Array) => keccak256(Uint8Array.of(1), l, r);
    expect(merkleRoot([a])).toEqual(leaf(a));
    expect(merkleRoot([a, b, c])).toEqual(node(node(leaf(a), leaf(b)), leaf(c)));
    expect(merkleRoot([])).toEqual(EMPTY_ROOT);
    expect(merkleProof([a, b, c], 2)).toEqual([{ sibling: toHex(node(leaf(a), leaf(b))), left: true }]);
    expect(() => merkleProof([a], 1)).toThrow(RangeError);
    expect(() => merkleProof([a], -1)).toThrow(RangeError);
    expect(verifyMerkleProof(a, [], fromHex(toHex(leaf(a)), 32))).toBe(true);
  });
});
