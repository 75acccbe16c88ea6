import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { concatBytes, uintToBytes } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { CURVE_N } from '../test/arbitraries.js';
import { tempDir, wallet } from '../test/fixtures.js';
import { WorkerPoolVerifier } from './recover-pool.js';
import { signDigest } from '../../protocol/signature.js';
import { JsVerifier } from './verifier.js';

const signers = [wallet(1), wallet(2), wallet(3), wallet(4), wallet(5)];

/** 250 (digest, signature) pairs: valid ones and every kind of invalid one, with the signer expected of each. */
function mixedBatch(): { digests: Uint8Array[]; sigs: Uint8Array[]; expected: (string | null)[] } {
  const digests: Uint8Array[] = [];
  const sigs: Uint8Array[] = [];
  const expected: (string | null)[] = [];
  for (let i = 0; i < 250; i++) {
    const digest = keccak256(uintToBytes(BigInt(i), 8));
    const who = signers[i % signers.length]!;
    const good = signDigest(digest, who.key);
    let sig = good;
    let signer: string | null = null;
    switch (i % 10) {
      case 0:
      case 1:
      case 2:
      case 3:
        signer = who.address;
        break;
      case 4: {
        // high-s twin of a valid signature
        sig = good.slice();
        sig.set(uintToBytes(CURVE_N - BigInt('0x' + Buffer.from(good.subarray(32, 64)).toString('hex')), 32), 32);
        sig[64] = good[64] === 27 ? 28 : 27;
        break;
      }
      case 5: // v outside 27/28
        sig = good.slice();
        sig[64] = i % 20 === 5 ? 1 : 29;
        break;
      case 6: // r = 0, or r at/above the curve order
        sig = concatBytes(i % 20 === 6 ? new Uint8Array(32) : uintToBytes(CURVE_N + BigInt(i % 3), 32), good.subarray(32));
        break;
      case 7: // truncated
        sig = good.subarray(0, 64);
        break;
      case 8: // valid signature over another digest: recovers, but to some other key
        sig = signDigest(keccak256(digest), who.key);
        signer = 'other';
        break;
      case 9: // s = 0
        sig = concatBytes(good.subarray(0, 32), new Uint8Array(32), good.subarray(64));
        break;
    }
    digests.push(digest);
    sigs.push(sig);
    expected.push(signer);
  }
  return { digests, sigs, expected };
}

describe('WorkerPoolVerifier', () => {
  const pool = new WorkerPoolVerifier(3);
  afterAll(() => pool.close());

  it('runs on native libsecp256k1 here', () => {
    expect(pool.backend).toBe('native-libsecp256k1');
  });

  it('agrees with JsVerifier on a batch of 250 mixed valid and invalid signatures', async () => {
    const { digests, sigs, expected } = mixedBatch();
    const [native, js] = await Promise.all([pool.recoverMany(digests, sigs), new JsVerifier().recoverMany(digests, sigs)]);
    expect(native).toHaveLength(250);
    expect(native).toEqual(js);
    native.forEach((got, i) => {
      if (expected[i] === 'other') expect(got).not.toBeNull();
      if (expected[i] === 'other') expect(signers.map((s) => s.address)).not.toContain(got);
      else expect(got).toBe(expected[i]);
    });
    expect(native.filter((a) => a !== null)).toHaveLength(125);
  });

  it('keeps concurrent batches apart and small batches inline', async () => {
    const { digests, sigs } = mixedBatch();
    const reversed = [digests.slice().reverse(), sigs.slice().reverse()] as const;
    const [a, b, small] = await Promise.all([
      pool.recoverMany(digests, sigs),
      pool.recoverMany(...reversed),
      pool.recoverMany(digests.slice(0, 5), sigs.slice(0, 5)),
    ]);
    expect(b).toEqual(a.slice().reverse());
    expect(small).toEqual(a.slice(0, 5));
    expect(await pool.recoverMany([], [])).toEqual([]);
  });

  it('lets a process exit without close(), and does not let it exit while a batch is out', () => {
    const t = tempDir();
    try {
      const script = join(t.dir, 'pool-exit.mjs');
      const poolUrl = new URL('./recover-pool.ts', import.meta.url).href;
      const signatureUrl = new URL('../../protocol/signature.ts', import.meta.url).href;
      writeFileSync(
        script,
        `
        import { WorkerPoolVerifier } from ${JSON.stringify(poolUrl)};
        import { signDigest } from ${JSON.stringify(signatureUrl)};
        const v = new WorkerPoolVerifier(2);
        const d = new Uint8Array(32).fill(3);
        const s = signDigest(d, new Uint8Array(32).fill(1));
        const out = await v.recoverMany(Array(5000).fill(d), Array(5000).fill(s));
        console.log('recovered', out.filter((a) => a === out[0]).length);
      `,
      );
      const root = fileURLToPath(new URL('../..', import.meta.url));
      // the timeout only guards against a hang; it is not what the test measures
      const run = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: root, encoding: 'utf8', timeout: 30_000 });
      expect(run.error).toBeUndefined();
      expect(run.stdout.trim()).toBe('recovered 5000');
      expect(run.status).toBe(0);
    } finally {
      t.remove();
    }
  });
});
