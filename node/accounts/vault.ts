/**
 * The account vault: usernames mapped to what the browser sealed (the wallet key under the password and under the
 * recovery key), the KDF parameters, and salted hashes of the login and recovery proofs; plus sessions by token.
 * It never holds a password, a private key or anything that opens one. Its own LevelDB, in DATA/accounts.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Level } from 'level';
import type {
  AccountRecord,
  KdfParams,
  PasswordSeal,
  RecoverySeal,
  RegisterBody,
  SealedKey,
  SessionGrant,
} from '../../protocol/accounts.js';

/** Retired sublevel names stay listed so they are never reused: (none yet). */
const SUBLEVELS = { accounts: 'accounts', sessions: 'sessions', userSessions: 'user-sessions', meta: 'meta' } as const;

interface ProofHash {
  salt: string;
  hash: string;
}

interface StoredRecovery extends ProofHash {
  wallet: SealedKey;
  /** Counts recovery keys; a recovery started under one generation cannot finish under another. */
  generation: number;
  createdAt: number;
}

interface StoredAccount {
  username: string;
  address: string;
  kdf: KdfParams;
  login: ProofHash;
  wallet: SealedKey;
  recovery: StoredRecovery;
  /** Hashes of used or replaced recovery keys, newest first, so a second use gets a clear "already used". */
  retiredRecovery: (ProofHash & { retiredAt: number; reason: 'used' | 'replaced' })[];
  createdAt: number;
  passwordChangedAt: number;
}

interface StoredSession {
  username: string;
  createdAt: number;
  expiresAt: number;
}

export type RecoverStartResult =
  | { ok: true; recoveryToken: string; expiresAt: number; address: string; wallet: SealedKey }
  | { ok: false; reason: 'wrong' }
  | { ok: false; reason: 'used' | 'replaced'; retiredAt: number };

export type RecoverFinishResult = { ok: true; grant: SessionGrant } | { ok: false; reason: 'invalid-token' | 'superseded' };

export class UsernameTakenError extends Error {
  override name = 'UsernameTakenError';
}

export interface VaultOptions {
  now?: () => number;
  sessionTtlMs?: number;
  recoveryTokenTtlMs?: number;
  maxSessionsPerUser?: number;
  /** The scrypt cost quoted for unknown usernames, so they look like real ones. */
  defaultKdf?: { N: number; r: number; p: number };
}

const RETIRED_KEPT = 8;

type SublevelName = 'accounts' | 'sessions' | 'userSessions';
type VaultOp = { type: 'put'; sublevel: SublevelName; key: string; value: unknown } | { type: 'del'; sublevel: SublevelName; key: string };

const newToken = (): string => randomBytes(32).toString('base64url');
const tokenId = (token: string): string => createHash('sha256').update(token).digest('hex');

function hashProof(proof: string, salt = randomBytes(16).toString('hex')): ProofHash {
  return {
    salt,
    hash: createHash('sha256')
      .update(Buffer.from(salt, 'hex'))
      .update(Buffer.from(proof.slice(2), 'hex'))
      .digest('hex'),
  };
}

function proofMatches(proof: string, stored: ProofHash): boolean {
  return timingSafeEqual(Buffer.from(hashProof(proof, stored.salt).hash, 'hex'), Buffer.from(stored.hash, 'hex'));
}

function view(a: StoredAccount): AccountRecord {
  return {
    username: a.username,
    address: a.address,
    kdf: a.kdf,
    wallet: a.wallet,
    createdAt: a.createdAt,
    recoveryKeyCreatedAt: a.recovery.createdAt,
  };
}

export class AccountVault {
  private readonly accounts;
  private readonly sessions;
  private readonly userSessions;
  private readonly recoveryTokens = new Map<string, { username: string; generation: number; expiresAt: number }>();
  private queue: Promise<unknown> = Promise.resolve();
  private lastPrune = 0;
  private readonly now: () => number;
  private readonly sessionTtlMs: number;
  private readonly recoveryTokenTtlMs: number;
  private readonly maxSessionsPerUser: number;
  private readonly defaultKdf: { N: number; r: number; p: number };

  private constructor(
    private readonly db: Level<string, unknown>,
    private readonly secret: Buffer,
    o: VaultOptions,
  ) {
    this.accounts = db.sublevel<string, StoredAccount>(SUBLEVELS.accounts, { valueEncoding: 'json' });
    this.sessions = db.sublevel<string, StoredSession>(SUBLEVELS.sessions, { valueEncoding: 'json' });
    this.userSessions = db.sublevel<string, number>(SUBLEVELS.userSessions, { valueEncoding: 'json' });
    this.now = o.now ?? Date.now;
    this.sessionTtlMs = o.sessionTtlMs ?? 12 * 3600_000;
    this.recoveryTokenTtlMs = o.recoveryTokenTtlMs ?? 15 * 60_000;
    this.maxSessionsPerUser = o.maxSessionsPerUser ?? 16;
    this.defaultKdf = o.defaultKdf ?? { N: 2 ** 17, r: 8, p: 1 };
  }

  static async open(dir: string, o: VaultOptions = {}): Promise<AccountVault> {
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    await db.open();
    const meta = db.sublevel<string, string>(SUBLEVELS.meta, { valueEncoding: 'json' });
    let secret = await meta.get('prelogin-secret');
    if (secret === undefined) {
      secret = randomBytes(32).toString('hex');
      await db.batch([{ type: 'put', sublevel: meta, key: 'prelogin-secret', value: secret }], { sync: true });
    }
    const vault = new AccountVault(db, Buffer.from(secret, 'hex'), o);
    await vault.pruneSessions();
    return vault;
  }

  async close(): Promise<void> {
    await this.queue;
    await this.db.close();
  }

  /** One atomic, synced LevelDB batch across the vault's sublevels. */
  private async write(ops: VaultOp[]): Promise<void> {
    const batch = this.db.batch();
    for (const op of ops) {
      const sublevel = { sublevel: this[op.sublevel] } as object;
      if (op.type === 'put') batch.put(op.key, op.value, sublevel);
      else batch.del(op.key, sublevel);
    }
    await batch.write({ sync: true });
  }

  /** Runs mutations one at a time, so check-then-write (a free username, an unused token) cannot race. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The KDF parameters to derive a login proof; for an unknown username, stable made-up ones that look alike. */
  async kdfFor(username: string): Promise<KdfParams> {
    const a = await this.accounts.get(username);
    if (a) return a.kdf;
    const salt = createHmac('sha256', this.secret).update(`kdf-salt:${username}`).digest().subarray(0, 16).toString('hex');
    return { name: 'scrypt', ...this.defaultKdf, salt: `0x${salt}` };
  }

  async account(username: string): Promise<AccountRecord | undefined> {
    const a = await this.accounts.get(username);
    return a && view(a);
  }

  register(input: RegisterBody): Promise<SessionGrant> {
    return this.exclusive(async () => {
      if ((await this.accounts.get(input.username)) !== undefined)
        throw new UsernameTakenError(`the username "${input.username}" is taken`);
      const now = this.now();
      const account: StoredAccount = {
        username: input.username,
        address: input.address,
        kdf: input.kdf,
        login: hashProof(input.loginProof),
        wallet: input.wallet,
        recovery: { ...hashProof(input.recovery.proof), wallet: input.recovery.wallet, generation: 1, createdAt: now },
        retiredRecovery: [],
        createdAt: now,
        passwordChangedAt: now,
      };
      await this.write([{ type: 'put', sublevel: 'accounts', key: account.username, value: account }]);
      return this.grant(account);
    });
  }

  /** A session for the right proof; undefined for a wrong proof or an unknown username (the caller cannot tell which). */
  login(username: string, loginProof: string): Promise<SessionGrant | undefined> {
    return this.exclusive(async () => {
      const a = await this.accounts.get(username);
      // Hash even for unknown users so the answer takes as long either way.
      const ok = a ? proofMatches(loginProof, a.login) : (hashProof(loginProof), false);
      return ok && a ? this.grant(a) : undefined;
    });
  }

  async session(token: string): Promise<{ username: string; expiresAt: number; account: AccountRecord } | undefined> {
    const s = await this.sessions.get(tokenId(token));
    if (!s || s.expiresAt <= this.now()) return undefined;
    const a = await this.accounts.get(s.username);
    return a ? { username: s.username, expiresAt: s.expiresAt, account: view(a) } : undefined;
  }

  logout(token: string): Promise<boolean> {
    return this.exclusive(async () => {
      const id = tokenId(token);
      const s = await this.sessions.get(id);
      if (!s) return false;
      await this.write([
        { type: 'del', sublevel: 'sessions', key: id },
        { type: 'del', sublevel: 'userSessions', key: `${s.username}!${id}` },
      ]);
      return true;
    });
  }

  /** Reseals under a new password after checking the current one; other sessions of the user end. */
  changePassword(username: string, currentProof: string, next: PasswordSeal, keepToken: string): Promise<AccountRecord | undefined> {
    return this.exclusive(async () => {
      const a = await this.accounts.get(username);
      if (!a || !proofMatches(currentProof, a.login)) return undefined;
      const updated: StoredAccount = {
        ...a,
        kdf: next.kdf,
        login: hashProof(next.loginProof),
        wallet: next.wallet,
        passwordChangedAt: this.now(),
      };
      await this.write([{ type: 'put', sublevel: 'accounts', key: username, value: updated }]);
      await this.endSessions(username, tokenId(keepToken));
      return view(updated);
    });
  }

  /** Retires the current recovery key for a new one, after checking the password's proof. */
  replaceRecovery(username: string, currentProof: string, recovery: RecoverySeal): Promise<AccountRecord | undefined> {
    return this.exclusive(async () => {
      const a = await this.accounts.get(username);
      if (!a || !proofMatches(currentProof, a.login)) return undefined;
      const updated = this.withNewRecovery(a, recovery, 'replaced');
      await this.write([{ type: 'put', sublevel: 'accounts', key: username, value: updated }]);
      return view(updated);
    });
  }

  /** Checks a recovery proof; on success hands out the recovery copy of the key and a one-time token to finish with. */
  recoverStart(username: string, recoveryProof: string): Promise<RecoverStartResult> {
    return this.exclusive(async () => {
      const a = await this.accounts.get(username);
      if (!a) {
        hashProof(recoveryProof);
        return { ok: false, reason: 'wrong' };
      }
      if (!proofMatches(recoveryProof, a.recovery)) {
        const retired = a.retiredRecovery.find((r) => proofMatches(recoveryProof, r));
        return retired ? { ok: false, reason: retired.reason, retiredAt: retired.retiredAt } : { ok: false, reason: 'wrong' };
      }
      const recoveryToken = newToken();
      const expiresAt = this.now() + this.recoveryTokenTtlMs;
      this.pruneRecoveryTokens();
      this.recoveryTokens.set(tokenId(recoveryToken), { username, generation: a.recovery.generation, expiresAt });
      return { ok: true, recoveryToken, expiresAt, address: a.address, wallet: a.recovery.wallet };
    });
  }

  /** Sets the new password and recovery key; the used recovery key is retired and every session ends. */
  recoverFinish(recoveryToken: string, next: PasswordSeal & { recovery: RecoverySeal }): Promise<RecoverFinishResult> {
    return this.exclusive(async () => {
      const id = tokenId(recoveryToken);
      const t = this.recoveryTokens.get(id);
      this.recoveryTokens.delete(id);
      if (!t || t.expiresAt <= this.now()) return { ok: false, reason: 'invalid-token' };
      const a = await this.accounts.get(t.username);
      if (!a) return { ok: false, reason: 'invalid-token' };
      if (a.recovery.generation !== t.generation) return { ok: false, reason: 'superseded' };
      const updated = {
        ...this.withNewRecovery(a, next.recovery, 'used'),
        kdf: next.kdf,
        login: hashProof(next.loginProof),
        wallet: next.wallet,
        passwordChangedAt: this.now(),
      };
      await this.write([{ type: 'put', sublevel: 'accounts', key: a.username, value: updated }]);
      await this.endSessions(a.username);
      return { ok: true, grant: await this.grant(updated) };
    });
  }

  private withNewRecovery(a: StoredAccount, recovery: RecoverySeal, reason: 'used' | 'replaced'): StoredAccount {
    const now = this.now();
    const retired = { salt: a.recovery.salt, hash: a.recovery.hash, retiredAt: now, reason };
    return {
      ...a,
      recovery: { ...hashProof(recovery.proof), wallet: recovery.wallet, generation: a.recovery.generation + 1, createdAt: now },
      retiredRecovery: [retired, ...a.retiredRecovery].slice(0, RETIRED_KEPT),
    };
  }

  private async grant(a: StoredAccount): Promise<SessionGrant> {
    const token = newToken();
    const id = tokenId(token);
    const now = this.now();
    const expiresAt = now + this.sessionTtlMs;
    const mine: { key: string; expiresAt: number }[] = [];
    for await (const [key, exp] of this.userSessions.iterator({ gt: `${a.username}!`, lt: `${a.username}!~` }))
      mine.push({ key, expiresAt: exp });
    // Beyond the cap, the sessions closest to expiry give way.
    const evict = mine.sort((x, y) => x.expiresAt - y.expiresAt).slice(0, Math.max(0, mine.length - this.maxSessionsPerUser + 1));
    await this.write([
      ...evict.flatMap((e): VaultOp[] => [
        { type: 'del', sublevel: 'userSessions', key: e.key },
        { type: 'del', sublevel: 'sessions', key: e.key.slice(a.username.length + 1) },
      ]),
      { type: 'put', sublevel: 'sessions', key: id, value: { username: a.username, createdAt: now, expiresAt } satisfies StoredSession },
      { type: 'put', sublevel: 'userSessions', key: `${a.username}!${id}`, value: expiresAt },
    ]);
    if (now - this.lastPrune > 10 * 60_000) await this.pruneSessions();
    return { token, expiresAt, account: view(a) };
  }

  private async endSessions(username: string, keepId?: string): Promise<void> {
    const ops: VaultOp[] = [];
    for await (const key of this.userSessions.keys({ gt: `${username}!`, lt: `${username}!~` })) {
      const id = key.slice(username.length + 1);
      if (id === keepId) continue;
      ops.push({ type: 'del', sublevel: 'userSessions', key }, { type: 'del', sublevel: 'sessions', key: id });
    }
    if (ops.length > 0) await this.write(ops);
  }

  private async pruneSessions(): Promise<void> {
    const now = this.now();
    this.lastPrune = now;
    const ops: VaultOp[] = [];
    for await (const [id, s] of this.sessions.iterator()) {
      if (s.expiresAt > now) continue;
      ops.push({ type: 'del', sublevel: 'sessions', key: id }, { type: 'del', sublevel: 'userSessions', key: `${s.username}!${id}` });
    }
    if (ops.length > 0) await this.write(ops);
  }

  private pruneRecoveryTokens(): void {
    const now = this.now();
    for (const [id, t] of this.recoveryTokens) if (t.expiresAt <= now) this.recoveryTokens.delete(id);
  }
}
