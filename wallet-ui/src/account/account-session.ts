/**
 * What a logged-in browser holds: the node's session token, the account record, and (once unlocked) the wallet key
 * in memory only. The account flows (register, log in, recover, change password, new recovery key, export) live here,
 * apart from any element, so tests can drive them against a real node.
 */
import { toChecksumAddress } from '../../../protocol/address.js';
import { fromHex, toHex } from '../../../protocol/bytes.js';
import { privateKeyToAddress, randomPrivateKey } from '../../../protocol/signature.js';
import type { NodeApi } from '../api/node-api.js';
import type { AccountRecord, KdfParams, RecoverySeal, SealedKey, SessionGrant } from '../../../protocol/accounts.js';
import {
  DEFAULT_KDF_COST,
  derivePasswordKeys,
  deriveRecoveryKeys,
  kdfParamsProblem,
  newKdfParams,
  newRecoveryKey,
  openWalletKey,
  sealWalletKey,
  WrongKeyError,
} from '../crypto/account-keys.js';

export type KdfCost = { N: number; r: number; p: number };
type Progress = (fraction: number) => void;

export const MIN_PASSWORD_LENGTH = 8;

export function normalizeUsername(input: string): string {
  return input.trim().toLowerCase();
}

export function usernameProblem(username: string): string | undefined {
  if (!/^[a-z0-9][a-z0-9._-]{2,31}$/.test(username))
    return 'a username is 3 to 32 letters, digits, dots, dashes or underscores, starting with a letter or digit';
  return undefined;
}

export function passwordProblem(password: string): string | undefined {
  if ([...password].length < MIN_PASSWORD_LENGTH) return `use at least ${MIN_PASSWORD_LENGTH} characters`;
  return undefined;
}

/** A private key as people paste it: 64 hex digits, with or without 0x. */
export function parsePrivateKey(input: string): { ok: true; key: Uint8Array } | { ok: false; problem: string } {
  const hex = input.trim().replace(/^0x/i, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return { ok: false, problem: 'a private key is 64 hex digits (optionally starting with 0x)' };
  const key = fromHex('0x' + hex.toLowerCase(), 32);
  try {
    privateKeyToAddress(key);
  } catch {
    return { ok: false, problem: 'this is not a valid secp256k1 private key' };
  }
  return { ok: true, key };
}

export class WalletLockedError extends Error {
  override name = 'WalletLockedError';
}

export class AccountSession {
  constructor(
    readonly api: NodeApi,
    public account: AccountRecord,
    readonly token: string,
    readonly expiresAt: number,
    private privateKey?: Uint8Array,
  ) {
    api.token = token;
  }

  static fromGrant(api: NodeApi, grant: SessionGrant, privateKey?: Uint8Array): AccountSession {
    return new AccountSession(api, grant.account, grant.token, grant.expiresAt, privateKey);
  }

  /** EIP-55 form of the account's address. */
  get address(): string {
    return toChecksumAddress(this.account.address);
  }

  get unlocked(): boolean {
    return this.privateKey !== undefined;
  }

  /** Opens the wallet key with the password (after a page reload the session survives but the key does not). */
  async unlock(password: string, onProgress?: Progress): Promise<void> {
    const keys = await derivePasswordKeys(password, this.account.kdf, onProgress);
    this.privateKey = await openChecked(this.account.wallet, this.account.address, keys.encryptionKey);
  }

  signingKey(): Uint8Array {
    if (!this.privateKey) throw new WalletLockedError('the wallet is locked; enter your password to unlock it');
    return this.privateKey;
  }

  forgetKey(): void {
    this.privateKey?.fill(0);
    this.privateKey = undefined;
  }
}

async function openChecked(sealed: SealedKey, address: string, key: CryptoKey): Promise<Uint8Array> {
  const privateKey = await openWalletKey(sealed, address, key);
  if (privateKeyToAddress(privateKey) !== address.toLowerCase())
    throw new WrongKeyError('the stored wallet key does not belong to this account');
  return privateKey;
}

async function sealRecovery(
  privateKey: Uint8Array,
  address: string,
  username: string,
): Promise<{ recoveryKey: string; recovery: RecoverySeal }> {
  const recoveryKey = newRecoveryKey();
  const keys = await deriveRecoveryKeys(recoveryKey, username);
  return { recoveryKey, recovery: { proof: keys.proof, wallet: await sealWalletKey(privateKey, address, keys.encryptionKey) } };
}

async function sealPassword(
  privateKey: Uint8Array,
  address: string,
  password: string,
  cost: KdfCost,
  onProgress?: Progress,
): Promise<{ kdf: KdfParams; loginProof: string; wallet: SealedKey }> {
  const kdf = newKdfParams(cost);
  const keys = await derivePasswordKeys(password, kdf, onProgress);
  return { kdf, loginProof: keys.proof, wallet: await sealWalletKey(privateKey, address, keys.encryptionKey) };
}

export interface NewAccount {
  session: AccountSession;
  /** Shown once, then only the user has it. */
  recoveryKey: string;
}

export async function registerAccount(
  api: NodeApi,
  o: { username: string; password: string; importKey?: Uint8Array; kdfCost?: KdfCost; onProgress?: Progress },
): Promise<NewAccount> {
  const username = normalizeUsername(o.username);
  const privateKey = o.importKey ? o.importKey.slice() : randomPrivateKey();
  const address = privateKeyToAddress(privateKey);
  const sealed = await sealPassword(privateKey, address, o.password, o.kdfCost ?? DEFAULT_KDF_COST, o.onProgress);
  const { recoveryKey, recovery } = await sealRecovery(privateKey, address, username);
  const grant = await api.register({ username, address: toChecksumAddress(address), ...sealed, recovery });
  return { session: AccountSession.fromGrant(api, grant, privateKey), recoveryKey };
}

export async function logIn(api: NodeApi, o: { username: string; password: string; onProgress?: Progress }): Promise<AccountSession> {
  const username = normalizeUsername(o.username);
  const { kdf } = await api.prelogin(username);
  const problem = kdfParamsProblem(kdf);
  if (problem) throw new Error(`the node asked for unsafe key derivation settings (${problem}); refusing to send a login proof`);
  const keys = await derivePasswordKeys(o.password, kdf, o.onProgress);
  const grant = await api.login(username, keys.proof);
  const privateKey = await openChecked(grant.account.wallet, grant.account.address, keys.encryptionKey);
  return AccountSession.fromGrant(api, grant, privateKey);
}

/** Forgot password: the recovery key opens the second copy, a new password seals it, and a new recovery key replaces the used one. */
export async function recoverAccount(
  api: NodeApi,
  o: { username: string; recoveryKey: string; newPassword: string; kdfCost?: KdfCost; onProgress?: Progress },
): Promise<NewAccount> {
  const username = normalizeUsername(o.username);
  const recoveryKeys = await deriveRecoveryKeys(o.recoveryKey, username);
  const grant = await api.recoverStart(username, recoveryKeys.proof);
  const privateKey = await openChecked(grant.wallet, grant.address, recoveryKeys.encryptionKey);
  const sealed = await sealPassword(privateKey, grant.address, o.newPassword, o.kdfCost ?? DEFAULT_KDF_COST, o.onProgress);
  const next = await sealRecovery(privateKey, grant.address, username);
  const session = await api.recoverFinish({ recoveryToken: grant.recoveryToken, ...sealed, recovery: next.recovery });
  return { session: AccountSession.fromGrant(api, session, privateKey), recoveryKey: next.recoveryKey };
}

async function currentProof(
  session: AccountSession,
  password: string,
  onProgress?: Progress,
): Promise<{ proof: string; privateKey: Uint8Array }> {
  const keys = await derivePasswordKeys(password, session.account.kdf, onProgress);
  const privateKey = await openChecked(session.account.wallet, session.account.address, keys.encryptionKey);
  return { proof: keys.proof, privateKey };
}

export async function changePassword(
  session: AccountSession,
  o: { currentPassword: string; newPassword: string; kdfCost?: KdfCost; onProgress?: Progress },
): Promise<void> {
  const { proof, privateKey } = await currentProof(session, o.currentPassword, o.onProgress);
  const sealed = await sealPassword(privateKey, session.account.address, o.newPassword, o.kdfCost ?? DEFAULT_KDF_COST, o.onProgress);
  const { account } = await session.api.changePassword({ currentLoginProof: proof, ...sealed });
  session.account = account;
}

/** Retires the current recovery key and returns a new one (to show once). */
export async function replaceRecoveryKey(session: AccountSession, o: { password: string; onProgress?: Progress }): Promise<string> {
  const { proof, privateKey } = await currentProof(session, o.password, o.onProgress);
  const { recoveryKey, recovery } = await sealRecovery(privateKey, session.account.address, session.account.username);
  const { account } = await session.api.replaceRecoveryKey({ currentLoginProof: proof, recovery });
  session.account = account;
  return recoveryKey;
}

/** The private key in hex, after the password opens it again. Wrong password: WrongKeyError. */
export async function exportPrivateKey(session: AccountSession, password: string, onProgress?: Progress): Promise<string> {
  const { privateKey } = await currentProof(session, password, onProgress);
  return toHex(privateKey);
}
