import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../api/server.js';
import { accountRoutes, DEFAULT_THROTTLES } from './account-routes.js';
import { AccountVault } from './vault.js';
import { NodeError } from '../../protocol/errors.js';
import { NodeApi } from '../../wallet-ui/src/api/node-api.js';
import {
  changePassword,
  exportPrivateKey,
  logIn,
  recoverAccount,
  registerAccount,
  replaceRecoveryKey,
} from '../../wallet-ui/src/account/account-session.js';
import { WrongKeyError } from '../../wallet-ui/src/crypto/account-keys.js';
import { privateKeyToAddress } from '../../protocol/signature.js';
import { toChecksumAddress } from '../../protocol/address.js';
import { fromHex } from '../../protocol/bytes.js';

const hex = (n: number): string => '0x' + randomBytes(n).toString('hex');
const sealed = () => ({ v: 1, iv: hex(12), ct: hex(48) });
const kdf = () => ({ name: 'scrypt', N: 2 ** 15, r: 8, p: 1, salt: hex(16) });
const CHEAP = { N: 2 ** 15, r: 8, p: 1 };

describe('account API', () => {
  let dir: string;
  let vault: AccountVault;
  let server: Server;
  let url: string;
  let clock = 1_800_000_000_000;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ailo-accounts-'));
    vault = await AccountVault.open(join(dir, 'accounts'), { now: () => clock, defaultKdf: CHEAP });
    const app = createApp(
      (router) =>
        accountRoutes(router, vault, {
          now: () => clock,
          throttles: { registerPerIp: { ...DEFAULT_THROTTLES.registerPerIp, freeFailures: 1000 } },
        }),
      () => {},
    );
    server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await vault.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = async (path: string, body: unknown, token?: string) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(url + path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: res.status, json: await res.json(), headers: res.headers };
  };
  const me = async (token: string) => {
    const res = await fetch(`${url}/api/account/me`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, json: await res.json() };
  };
  const rawAccount = (username: string, loginProof = hex(32)) => ({
    username,
    address: toChecksumAddress(privateKeyToAddress(fromHex(hex(32), 32))),
    kdf: kdf(),
    loginProof,
    wallet: sealed(),
    recovery: { proof: hex(32), wallet: sealed() },
  });

  it('registers, logs in, serves the sealed key to its owner only, and logs out', async () => {
    const account = rawAccount('Carol.One');
    const reg = await post('/api/account/register', account);
    expect(reg.status).toBe(201);
    expect(reg.json.account).toMatchObject({ username: 'carol.one', address: account.address, kdf: account.kdf, wallet: account.wallet });
    expect(reg.json.account).not.toHaveProperty('login');
    expect(reg.json.token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    expect((await post('/api/account/register', { ...account, username: 'carol.one' })).json.error.code).toBe('USERNAME_TAKEN');
    expect((await post('/api/account/prelogin', { username: 'carol.one' })).json.kdf).toEqual(account.kdf);

    const bad = await post('/api/account/login', { username: 'carol.one', loginProof: hex(32) });
    expect(bad.status).toBe(401);
    expect(bad.json.error.code).toBe('LOGIN_FAILED');
    const good = await post('/api/account/login', { username: 'carol.one', loginProof: account.loginProof });
    expect(good.status).toBe(200);
    expect((await me(good.json.token)).json.account.address).toBe(account.address);

    expect((await post('/api/account/logout', {}, good.json.token)).status).toBe(200);
    const after = await me(good.json.token);
    expect(after.status).toBe(401);
    expect(after.json.error.code).toBe('SESSION_EXPIRED');
    expect((await me(reg.json.token)).status).toBe(200); // the other session lives on
    expect((await fetch(`${url}/api/account/me`)).status).toBe(401);
  });

  it('quotes stable made-up KDF parameters for unknown usernames', async () => {
    const a = await post('/api/account/prelogin', { username: 'nobody-here' });
    const b = await post('/api/account/prelogin', { username: 'nobody-here' });
    const c = await post('/api/account/prelogin', { username: 'nobody-else' });
    expect(a.status).toBe(200);
    expect(a.json.kdf).toEqual(b.json.kdf);
    expect(a.json.kdf.salt).not.toBe(c.json.kdf.salt);
    expect(a.json.kdf).toMatchObject({ name: 'scrypt', N: CHEAP.N, r: 8, p: 1 });
  });

  it('locks a username after repeated failed logins, with Retry-After, even for the right proof, until the lock ends', async () => {
    const account = rawAccount('dave');
    await post('/api/account/register', account);
    const attempts = [];
    for (let i = 0; i < DEFAULT_THROTTLES.loginPerUser.freeFailures; i++)
      attempts.push((await post('/api/account/login', { username: 'dave', loginProof: hex(32) })).status);
    expect(attempts.every((s) => s === 401)).toBe(true);
    const locked = await post('/api/account/login', { username: 'dave', loginProof: hex(32) });
    expect(locked.status).toBe(401); // the failure that crosses the threshold still gets its answer
    const refused = await post('/api/account/login', { username: 'dave', loginProof: account.loginProof });
    expect(refused.status).toBe(429);
    expect(refused.json.error.code).toBe('RATE_LIMITED');
    expect(Number(refused.headers.get('retry-after'))).toBe(DEFAULT_THROTTLES.loginPerUser.baseLockMs / 1000);
    clock += DEFAULT_THROTTLES.loginPerUser.baseLockMs;
    expect((await post('/api/account/login', { username: 'dave', loginProof: account.loginProof })).status).toBe(200);
  });

  it('answers bad input with a 4xx naming the problem', async () => {
    const base = rawAccount('erin');
    const cases: [unknown, number, string][] = [
      [{ ...base, username: 'x' }, 400, 'BAD_USERNAME'],
      [{ ...base, username: 'bad name!' }, 400, 'BAD_USERNAME'],
      [{ ...base, address: '0x123' }, 400, 'BAD_ADDRESS'],
      [{ ...base, address: base.address.toLowerCase().replace('0x', '0X') }, 400, 'BAD_ADDRESS'],
      [{ ...base, kdf: { ...base.kdf, N: 1024 } }, 400, 'BAD_KDF'],
      [{ ...base, kdf: { ...base.kdf, N: 3 * 2 ** 15 } }, 400, 'BAD_KDF'],
      [{ ...base, kdf: { ...base.kdf, extra: 1 } }, 400, 'BAD_REQUEST'],
      [{ ...base, loginProof: '0x12' }, 400, 'BAD_PROOF'],
      [{ ...base, wallet: { v: 1, iv: hex(12), ct: hex(47) } }, 400, 'BAD_SEALED_KEY'],
      [{ ...base, wallet: 'x' }, 400, 'BAD_SEALED_KEY'],
      [{ ...base, recovery: { proof: base.loginProof, wallet: sealed() } }, 400, 'BAD_PROOF'],
      [{ ...base, admin: true }, 400, 'BAD_REQUEST'],
      ['{"username":', 400, 'BAD_JSON'],
      [[1, 2], 400, 'BAD_JSON'],
      [{ ...base, username: 'x'.repeat(70_000) }, 413, 'BODY_TOO_LARGE'],
    ];
    for (const [body, status, code] of cases) {
      const r = await post('/api/account/register', body);
      expect([r.status, r.json.error?.code], JSON.stringify(body).slice(0, 120)).toEqual([status, code]);
    }
    expect((await post('/api/account/prelogin', { username: 'erin' })).status).toBe(200);
    expect((await post('/api/account/login', { username: 'erin', loginProof: base.loginProof })).json.error.code).toBe('LOGIN_FAILED');
    const wrongType = await fetch(`${url}/api/account/login`, { method: 'POST', body: 'username=erin' });
    expect(wrongType.status).toBe(415);
    const badToken = await post('/api/account/password', {}, 'not-a-token');
    expect(badToken.status).toBe(401);
    expect((await post('/api/account/recover/finish', { ...base, recoveryToken: 'x' })).status).toBe(400);
    expect((await fetch(`${url}/api/account/me`, { method: 'DELETE' })).status).toBe(405);
  });

  it('runs the browser flows: register, log in, change password, recover once, refuse the used key', async () => {
    const api = new NodeApi(url);
    const { session, recoveryKey } = await registerAccount(api, { username: 'frank', password: 'correct horse', kdfCost: CHEAP });
    const address = session.address;

    const again = await logIn(new NodeApi(url), { username: 'frank', password: 'correct horse' });
    expect(again.address).toBe(address);
    expect(privateKeyToAddress(again.signingKey())).toBe(address.toLowerCase());
    await expect(logIn(new NodeApi(url), { username: 'frank', password: 'wrong horse' })).rejects.toMatchObject({ code: 'LOGIN_FAILED' });

    await changePassword(again, { currentPassword: 'correct horse', newPassword: 'battery staple', kdfCost: CHEAP });
    await expect(again.api.me()).resolves.toBeDefined(); // the session that changed it stays
    await expect(session.api.me()).rejects.toMatchObject({ code: 'SESSION_EXPIRED' }); // others end
    await expect(logIn(new NodeApi(url), { username: 'frank', password: 'correct horse' })).rejects.toMatchObject({ code: 'LOGIN_FAILED' });
    await expect(exportPrivateKey(again, 'correct horse')).rejects.toBeInstanceOf(WrongKeyError);
    const exported = await exportPrivateKey(again, 'battery staple');
    expect(privateKeyToAddress(fromHex(exported, 32))).toBe(address.toLowerCase());

    const recovered = await recoverAccount(new NodeApi(url), {
      username: 'frank',
      recoveryKey,
      newPassword: 'new password 3',
      kdfCost: CHEAP,
    });
    expect(recovered.session.address).toBe(address);
    expect(recovered.recoveryKey).not.toBe(recoveryKey);
    await expect(again.api.me()).rejects.toMatchObject({ code: 'SESSION_EXPIRED' }); // recovery ends every session
    const reused = await recoverAccount(new NodeApi(url), {
      username: 'frank',
      recoveryKey,
      newPassword: 'x'.repeat(10),
      kdfCost: CHEAP,
    }).catch((e: unknown) => e);
    expect(reused).toBeInstanceOf(NodeError);
    expect(reused).toMatchObject({ status: 401, code: 'RECOVERY_KEY_USED' });
    expect((reused as Error).message).toMatch(/already used/);
    await expect(logIn(new NodeApi(url), { username: 'frank', password: 'new password 3' })).resolves.toBeDefined();

    // A replaced key is refused too, and the new one works.
    const newest = await replaceRecoveryKey(recovered.session, { password: 'new password 3' });
    await expect(
      recoverAccount(new NodeApi(url), {
        username: 'frank',
        recoveryKey: recovered.recoveryKey,
        newPassword: 'y'.repeat(10),
        kdfCost: CHEAP,
      }),
    ).rejects.toMatchObject({ code: 'RECOVERY_KEY_USED' });
    await expect(
      recoverAccount(new NodeApi(url), { username: 'frank', recoveryKey: newest, newPassword: 'z'.repeat(10), kdfCost: CHEAP }),
    ).resolves.toBeDefined();
  });

  it('finishes a recovery once per token, and not after the key changed under it', async () => {
    const api = new NodeApi(url);
    const { recoveryKey } = await registerAccount(api, { username: 'gina', password: 'password 1', kdfCost: CHEAP });
    const { deriveRecoveryKeys } = await import('../../wallet-ui/src/crypto/account-keys.js');
    const proof = (await deriveRecoveryKeys(recoveryKey, 'gina')).proof;
    const first = await post('/api/account/recover/start', { username: 'gina', recoveryProof: proof });
    const second = await post('/api/account/recover/start', { username: 'gina', recoveryProof: proof });
    expect([first.status, second.status]).toEqual([200, 200]);
    const next = { kdf: kdf(), loginProof: hex(32), wallet: sealed(), recovery: { proof: hex(32), wallet: sealed() } };
    const done = await post('/api/account/recover/finish', { ...next, recoveryToken: first.json.recoveryToken });
    expect(done.status).toBe(200);
    const replay = await post('/api/account/recover/finish', { ...next, recoveryToken: first.json.recoveryToken });
    expect([replay.status, replay.json.error.code]).toEqual([401, 'RECOVERY_TOKEN_INVALID']);
    const raced = await post('/api/account/recover/finish', { ...next, recoveryToken: second.json.recoveryToken });
    expect([raced.status, raced.json.error.code]).toEqual([409, 'RECOVERY_SUPERSEDED']);
  });

  it('throttles wrong recovery keys per username', async () => {
    await post('/api/account/register', rawAccount('hank'));
    const statuses = [];
    for (let i = 0; i <= DEFAULT_THROTTLES.recoveryPerUser.freeFailures + 1; i++) {
      statuses.push((await post('/api/account/recover/start', { username: 'hank', recoveryProof: hex(32) })).status);
    }
    expect(statuses).toEqual([...Array(DEFAULT_THROTTLES.recoveryPerUser.freeFailures + 1).fill(401), 429]);
    const wrong = await post('/api/account/recover/start', { username: 'hank', recoveryProof: hex(32) });
    expect(wrong.json.error.message).toMatch(/try again in \d+ s/);
  });
});
