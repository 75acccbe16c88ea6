/**
 * The account API (README, "Accounts"): register, log in and out, recover with the recovery key, change the
 * password, replace the recovery key. Sessions travel as `Authorization: Bearer <token>` (no cookies, so no CSRF).
 * Failed logins and recoveries are throttled per username and per client address, with exponential backoff.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { readJsonBody } from '../api/body.js';
import { ApiError } from '../api/errors.js';
import {
  addressField,
  kdfField,
  onlyFields,
  proofField,
  recoveryField,
  sealedKeyField,
  tokenField,
  usernameField,
} from './account-params.js';
import { FailureThrottle, type ThrottlePolicy } from './throttle.js';
import { UsernameTakenError, type AccountVault } from './vault.js';

export interface AccountThrottles {
  loginPerUser: ThrottlePolicy;
  loginPerIp: ThrottlePolicy;
  recoveryPerUser: ThrottlePolicy;
  recoveryPerIp: ThrottlePolicy;
  /** Every registration counts here, so one address cannot fill the vault. */
  registerPerIp: ThrottlePolicy;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export const DEFAULT_THROTTLES: AccountThrottles = {
  loginPerUser: { freeFailures: 5, baseLockMs: 30_000, maxLockMs: 15 * MINUTE, forgetAfterMs: HOUR },
  loginPerIp: { freeFailures: 20, baseLockMs: 30_000, maxLockMs: HOUR, forgetAfterMs: HOUR },
  recoveryPerUser: { freeFailures: 3, baseLockMs: MINUTE, maxLockMs: HOUR, forgetAfterMs: 6 * HOUR },
  recoveryPerIp: { freeFailures: 10, baseLockMs: MINUTE, maxLockMs: HOUR, forgetAfterMs: 6 * HOUR },
  registerPerIp: { freeFailures: 20, baseLockMs: 10 * MINUTE, maxLockMs: 6 * HOUR, forgetAfterMs: HOUR },
};

export interface AccountRoutesOptions {
  throttles?: Partial<AccountThrottles>;
  now?: () => number;
}

function limited(retryMs: number, what: string): ApiError {
  const seconds = Math.max(1, Math.ceil(retryMs / 1000));
  return new ApiError(429, 'RATE_LIMITED', `too many ${what}; try again in ${seconds} s`, { 'Retry-After': String(seconds) });
}

/** Throttles keyed by username and by client address together: the longer wait of the two applies. */
class PairThrottle {
  private readonly user: FailureThrottle;
  private readonly ip: FailureThrottle;
  constructor(
    userPolicy: ThrottlePolicy,
    ipPolicy: ThrottlePolicy,
    now: () => number,
    private readonly what: string,
  ) {
    this.user = new FailureThrottle(userPolicy, now);
    this.ip = new FailureThrottle(ipPolicy, now);
  }
  check(username: string, ip: string): void {
    const wait = Math.max(this.user.retryAfterMs(username), this.ip.retryAfterMs(ip));
    if (wait > 0) throw limited(wait, this.what);
  }
  fail(username: string, ip: string): void {
    this.user.fail(username);
    this.ip.fail(ip);
  }
  succeed(username: string): void {
    this.user.clear(username);
  }
}

/** The request's session token (`Authorization: Bearer <token>`); a 401 UNAUTHORIZED without one. */
export function bearerToken(ctx: Context): string {
  const m = /^Bearer ([A-Za-z0-9_-]{43})$/.exec(ctx.get('authorization'));
  if (!m) throw new ApiError(401, 'UNAUTHORIZED', 'log in first: send the session token as "Authorization: Bearer <token>"');
  return m[1]!;
}

/** The logged-in account of the request; a 401 (UNAUTHORIZED, SESSION_EXPIRED) otherwise. */
export async function accountSession(ctx: Context, vault: AccountVault) {
  const token = bearerToken(ctx);
  const s = await vault.session(token);
  if (!s) throw new ApiError(401, 'SESSION_EXPIRED', 'this session has ended (logged out, expired, or the password changed); log in again');
  return { ...s, token };
}

export function accountRoutes(router: Router, vault: AccountVault, o: AccountRoutesOptions = {}): void {
  const now = o.now ?? Date.now;
  const t = { ...DEFAULT_THROTTLES, ...o.throttles };
  const login = new PairThrottle(t.loginPerUser, t.loginPerIp, now, 'failed logins');
  const recovery = new PairThrottle(t.recoveryPerUser, t.recoveryPerIp, now, 'failed recovery attempts');
  const registrations = new FailureThrottle(t.registerPerIp, now);

  const session = (ctx: Context) => accountSession(ctx, vault);
  const noStore = (ctx: Context): void => {
    ctx.set('Cache-Control', 'no-store');
  };

  router.post('/api/account/prelogin', async (ctx) => {
    const body = await readJsonBody(ctx);
    onlyFields(body, ['username']);
    const username = usernameField(body.username);
    noStore(ctx);
    ctx.body = { username, kdf: await vault.kdfFor(username) };
  });

  router.post('/api/account/register', async (ctx) => {
    const wait = registrations.retryAfterMs(ctx.ip);
    if (wait > 0) throw limited(wait, 'new accounts from this address');
    const body = await readJsonBody(ctx);
    onlyFields(body, ['username', 'address', 'kdf', 'loginProof', 'wallet', 'recovery']);
    const input = {
      username: usernameField(body.username),
      address: addressField(body.address),
      kdf: kdfField(body.kdf),
      loginProof: proofField(body.loginProof, 'loginProof'),
      wallet: sealedKeyField(body.wallet, 'wallet'),
      recovery: recoveryField(body.recovery),
    };
    if (input.recovery.proof === input.loginProof)
      throw new ApiError(400, 'BAD_PROOF', 'the recovery proof must differ from the login proof');
    try {
      const grant = await vault.register(input);
      registrations.fail(ctx.ip);
      noStore(ctx);
      ctx.status = 201;
      ctx.body = grant;
    } catch (err) {
      if (err instanceof UsernameTakenError) throw new ApiError(409, 'USERNAME_TAKEN', `${err.message}; pick another`);
      throw err;
    }
  });

  router.post('/api/account/login', async (ctx) => {
    const body = await readJsonBody(ctx);
    onlyFields(body, ['username', 'loginProof']);
    const username = usernameField(body.username);
    const proof = proofField(body.loginProof, 'loginProof');
    login.check(username, ctx.ip);
    const grant = await vault.login(username, proof);
    if (!grant) {
      login.fail(username, ctx.ip);
      throw new ApiError(401, 'LOGIN_FAILED', 'wrong username or password');
    }
    login.succeed(username);
    noStore(ctx);
    ctx.body = grant;
  });

  router.post('/api/account/logout', async (ctx) => {
    await vault.logout(bearerToken(ctx));
    ctx.body = { loggedOut: true };
  });

  router.get('/api/account/me', async (ctx) => {
    const s = await session(ctx);
    noStore(ctx);
    ctx.body = { account: s.account, expiresAt: s.expiresAt };
  });

  router.post('/api/account/password', async (ctx) => {
    const s = await session(ctx);
    const body = await readJsonBody(ctx);
    onlyFields(body, ['currentLoginProof', 'kdf', 'loginProof', 'wallet']);
    const current = proofField(body.currentLoginProof, 'currentLoginProof');
    const next = {
      kdf: kdfField(body.kdf),
      loginProof: proofField(body.loginProof, 'loginProof'),
      wallet: sealedKeyField(body.wallet, 'wallet'),
    };
    login.check(s.username, ctx.ip);
    const account = await vault.changePassword(s.username, current, next, s.token);
    if (!account) {
      login.fail(s.username, ctx.ip);
      throw new ApiError(401, 'WRONG_PASSWORD', 'the current password is wrong');
    }
    noStore(ctx);
    ctx.body = { account };
  });

  router.post('/api/account/recovery-key', async (ctx) => {
    const s = await session(ctx);
    const body = await readJsonBody(ctx);
    onlyFields(body, ['currentLoginProof', 'recovery']);
    const current = proofField(body.currentLoginProof, 'currentLoginProof');
    const seal = recoveryField(body.recovery);
    login.check(s.username, ctx.ip);
    const account = await vault.replaceRecovery(s.username, current, seal);
    if (!account) {
      login.fail(s.username, ctx.ip);
      throw new ApiError(401, 'WRONG_PASSWORD', 'the password is wrong');
    }
    noStore(ctx);
    ctx.body = { account };
  });

  router.post('/api/account/recover/start', async (ctx) => {
    const body = await readJsonBody(ctx);
    onlyFields(body, ['username', 'recoveryProof']);
    const username = usernameField(body.username);
    const proof = proofField(body.recoveryProof, 'recoveryProof');
    recovery.check(username, ctx.ip);
    const r = await vault.recoverStart(username, proof);
    if (!r.ok) {
      recovery.fail(username, ctx.ip);
      if (r.reason === 'wrong') throw new ApiError(401, 'RECOVERY_KEY_WRONG', 'this recovery key does not belong to this username');
      const when = new Date(r.retiredAt).toISOString().slice(0, 16).replace('T', ' ');
      throw new ApiError(
        401,
        'RECOVERY_KEY_USED',
        r.reason === 'used'
          ? `this recovery key was already used (${when} UTC); each key works once. Use the newer key you were given then`
          : `this recovery key was replaced by a newer one (${when} UTC); use the newer key`,
      );
    }
    recovery.succeed(username);
    noStore(ctx);
    ctx.body = { recoveryToken: r.recoveryToken, expiresAt: r.expiresAt, address: r.address, wallet: r.wallet };
  });

  router.post('/api/account/recover/finish', async (ctx) => {
    const body = await readJsonBody(ctx);
    onlyFields(body, ['recoveryToken', 'kdf', 'loginProof', 'wallet', 'recovery']);
    const token = tokenField(body.recoveryToken, 'recoveryToken');
    const next = {
      kdf: kdfField(body.kdf),
      loginProof: proofField(body.loginProof, 'loginProof'),
      wallet: sealedKeyField(body.wallet, 'wallet'),
      recovery: recoveryField(body.recovery),
    };
    const r = await vault.recoverFinish(token, next);
    if (!r.ok) {
      throw r.reason === 'superseded'
        ? new ApiError(
            409,
            'RECOVERY_SUPERSEDED',
            'the recovery key changed while this recovery was under way; start again with the newest key',
          )
        : new ApiError(401, 'RECOVERY_TOKEN_INVALID', 'this recovery has expired or was already finished; start again');
    }
    noStore(ctx);
    ctx.body = r.grant;
  });
}
