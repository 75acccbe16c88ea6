/**
 * The state commitment: a fixed-depth binary Merkle tree over 2^16 buckets of key-value leaves.
 * A key (32 bytes, already a hash) falls in the bucket named by its first two bytes; a bucket's hash covers
 * its leaves in key order; empty buckets and subtrees hash to precomputed constants. Applying a block
 * rehashes only the buckets it touched and their paths, so the root costs O(changes), not O(state).
 */
import { concatBytes, toHex, ZERO32 } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';

export const BUCKET_BITS = 16;
const BUCKETS = 1 << BUCKET_BITS;
const LEAF_PREFIX = Uint8Array.of(0);

/** EMPTY[d] is the hash of an empty subtree whose leaves are d levels below it. */
const EMPTY: Uint8Array[] = [ZERO32];
for (let d = 1; d <= BUCKET_BITS; d++) EMPTY.push(keccak256(EMPTY[d - 1]!, EMPTY[d - 1]!));

export interface StateChange {
  key: Uint8Array;
  /** null deletes the entry. */
  value: Uint8Array | null;
}

export function bucketOf(key: Uint8Array): number {
  return (key[0]! << 8) | key[1]!;
}

export function leafHash(key: Uint8Array, value: Uint8Array): Uint8Array {
  return keccak256(LEAF_PREFIX, key, value);
}

interface TreeUpdate {
  buckets: Map<number, Map<string, Uint8Array>>;
  nodes: Map<number, Uint8Array>;
  root: Uint8Array;
}

export class StateTree {
  /** bucket -> (key hex -> leaf hash); only non-empty buckets are present. */
  private readonly buckets = new Map<number, Map<string, Uint8Array>>();
  /** heap-indexed inner nodes (1 = root, BUCKETS + b = bucket b); absent means empty. */
  private readonly nodes = new Map<number, Uint8Array>();

  root(): Uint8Array {
    return this.nodes.get(1) ?? EMPTY[BUCKET_BITS]!;
  }

  /** The root the tree would have after `changes`, leaving the tree as it is. */
  rootWith(changes: Iterable<StateChange>): Uint8Array {
    return this.plan(changes).root;
  }

  apply(changes: Iterable<StateChange>): Uint8Array {
    const update = this.plan(changes);
    for (const [b, leaves] of update.buckets) {
      if (leaves.size === 0) this.buckets.delete(b);
      else this.buckets.set(b, leaves);
    }
    for (const [i, h] of update.nodes) this.nodes.set(i, h);
    return update.root;
  }

  private plan(changes: Iterable<StateChange>): TreeUpdate {
    const buckets = new Map<number, Map<string, Uint8Array>>();
    for (const { key, value } of changes) {
      const b = bucketOf(key);
      let leaves = buckets.get(b);
      if (!leaves) {
        leaves = new Map(this.buckets.get(b));
        buckets.set(b, leaves);
      }
      const k = toHex(key);
      if (value === null) leaves.delete(k);
      else leaves.set(k, leafHash(key, value));
    }
    const nodes = new Map<number, Uint8Array>();
    const get = (i: number, depthBelow: number): Uint8Array => nodes.get(i) ?? this.nodes.get(i) ?? EMPTY[depthBelow]!;
    let level = new Set<number>();
    for (const [b, leaves] of buckets) {
      const keys = [...leaves.keys()].sort();
      nodes.set(BUCKETS + b, keys.length === 0 ? ZERO32 : keccak256(concatBytes(...keys.map((k) => leaves.get(k)!))));
      level.add((BUCKETS + b) >> 1);
    }
    for (let depthBelow = 1; depthBelow <= BUCKET_BITS; depthBelow++) {
      const next = new Set<number>();
      for (const i of level) {
        const left = get(2 * i, depthBelow - 1);
        const right = get(2 * i + 1, depthBelow - 1);
        const h = left === EMPTY[depthBelow - 1] && right === EMPTY[depthBelow - 1] ? EMPTY[depthBelow]! : keccak256(left, right);
        nodes.set(i, h);
        if (i > 1) next.add(i >> 1);
      }
      level = next;
    }
    return { buckets, nodes, root: get(1, BUCKET_BITS) };
  }
}
