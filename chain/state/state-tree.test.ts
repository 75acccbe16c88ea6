import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.js';
import { StateTree, type StateChange } from './state-tree.js';

// Keys drawn from a small pool, often sharing a bucket (first two bytes), so updates and deletes collide.
const arbKey = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 7 })).map(([bucket, n]) => {
  const key = new Uint8Array(32);
  key[1] = bucket;
  key[31] = n;
  return key;
});
const arbChange: fc.Arbitrary<StateChange> = fc.record({
  key: arbKey,
  value: fc.option(fc.uint8Array({ minLength: 1, maxLength: 8 }), { nil: null }),
});

describe('StateTree', () => {
  it('reaches the same root incrementally, in one batch, and from the final contents alone', () => {
    fc.assert(
      fc.property(fc.array(fc.array(arbChange, { maxLength: 12 }), { maxLength: 8 }), (batches) => {
        const incremental = new StateTree();
        const final = new Map<string, StateChange>();
        for (const batch of batches) {
          const predicted = toHex(incremental.rootWith(batch));
          expect(toHex(incremental.apply(batch))).toBe(predicted);
          for (const c of batch) final.set(toHex(c.key), c);
        }
        const oneBatch = new StateTree();
        oneBatch.apply(batches.flat());
        const fresh = new StateTree();
        fresh.apply([...final.values()].filter((c) => c.value !== null));
        expect(toHex(incremental.root())).toBe(toHex(fresh.root()));
        expect(toHex(oneBatch.root())).toBe(toHex(fresh.root()));
      }),
      { numRuns: 300 },
    );
  });

  it('returns to the empty root once every entry is deleted, and rootWith leaves the tree alone', () => {
    const tree = new StateTree();
    const empty = toHex(tree.root());
    const key = new Uint8Array(32).fill(9);
    const withEntry = toHex(tree.rootWith([{ key, value: Uint8Array.of(1) }]));
    expect(withEntry).not.toBe(empty);
    expect(toHex(tree.root())).toBe(empty);
    tree.apply([{ key, value: Uint8Array.of(1) }]);
    expect(toHex(tree.root())).toBe(withEntry);
    expect(toHex(tree.rootWith([{ key, value: Uint8Array.of(2) }]))).not.toBe(withEntry);
    tree.apply([{ key, value: null }]);
    expect(toHex(tree.root())).toBe(empty);
  });
});
