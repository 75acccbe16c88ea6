import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AccountVault } from './vault.js';

const hex = (n: number): string => '0x' + randomBytes(n).toString('hex');
const input = (username: string, loginProof = hex(32), recoveryProof = hex(32)) => ({
  username,
  address: '0x' + '11'.repeat(20),
  kdf: { name: 'scrypt' as const, N: 2 ** 15, r: 8, p: 1, salt: hex(16) },
  loginProof,
  wallet: { v: 1 as const, iv: hex(12), ct: hex(48) },
  recovery: { proof: recoveryProof, wallet: { v: 1 as const, iv: hex(12), ct: hex(48) } },
});

describe('AccountVault', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'ailo-vault-'));
    dirs.push(d);
    return join(d, 'accounts');
  };

  it('keeps accounts and sessions across a reopen, and ends sessions at their expiry', async () => {
    const dir = tempDir();
    let now = 1_000_000;
    let vault = await AccountVault.open(dir, { now: () => now, sessionTtlMs: 10_000 });
    const proof = hex(32);
    const grant = await vault.register(input('ann', proof));
    await vault.close();
    vault = await AccountVault.open(dir, { now: () => now, sessionTtlMs: 10_000 });
    expect((await vault.session(grant.token))?.username).toBe('ann');
    expect(await vault.login('ann', proof)).toBeDefined();
    expect(await vault.login('ann', hex(32))).toBeUndefined();
    expect(await vault.login('nobody', proof)).toBeUndefined();
    now += 10_000;
    expect(await vault.session(grant.token)).toBeUndefined();
    await vault.close();
  });

  it('stores no proof, only salted hashes of it', async () => {
    const dir = tempDir();
    const vault = await AccountVault.open(dir);
    const login = hex(32);
    const recovery = hex(32);
    await vault.register(input('bea', login, recovery));
    await vault.close();
    const files = readdirSync(dir)
      .map((f) => readFileSync(join(dir, f)).toString('latin1'))
      .join('');
    expect(files).toContain('bea');
    expect(files).not.toContain(login.slice(2));
    expect(files).not.toContain(recovery.slice(2));
  });

  it('gives two registrations of one name exactly one account', async () => {
    const vault = await AccountVault.open(tempDir());
    const results = await Promise.allSettled([vault.register(input('cat')), vault.register(input('cat'))]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    await vault.close();
  });

  it('caps the sessions of one user, ending the oldest', async () => {
    let now = 0;
    const vault = await AccountVault.open(tempDir(), { now: () => now, maxSessionsPerUser: 2 });
    const proof = hex(32);
    const first = await vault.register(input('dan', proof));
    now++;
    const second = await vault.login('dan', proof);
    now++;
    const third = await vault.login('dan', proof);
    expect(await vault.session(first.token)).toBeUndefined();
    expect(await vault.session(second!.token)).toBeDefined();
    expect(await vault.session(third!.token)).toBeDefined();
    await vault.close();
  });
});
