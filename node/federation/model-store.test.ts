// The model store's kept updates: a file damaged on disk reads as not kept (and is removed), so it is fetched again.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelStore, sha256Hex } from './model-store.js';

describe('kept updates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ailo-store-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads an update back only while its bytes hash to its name', () => {
    const store = new ModelStore(dir);
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    const digest = sha256Hex(bytes);
    store.putUpdate(digest, bytes);
    expect(store.readUpdate(digest)).toEqual(bytes);
    writeFileSync(store.updatePath(digest), Buffer.from('damaged'));
    expect(store.readUpdate(digest)).toBeUndefined();
    expect(existsSync(store.updatePath(digest))).toBe(false);
    store.putUpdate(digest, bytes); // fetched again
    expect(store.readUpdate(digest)).toEqual(bytes);
  });
});
