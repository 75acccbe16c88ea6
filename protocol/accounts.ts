/**
 * The account wire types (browser-safe), declared once: the node's vault stores and answers them, the wallet builds
 * and reads them. The node never sees a password or a key: only the KDF's parameters, a login proof and the wallet key
 * sealed in the browser (wallet-ui/src/crypto/account-keys.ts says how). Hex strings are 0x-prefixed lowercase.
 */

/** scrypt parameters of an account's password: N a power of two (2^17 in browsers), a 16-32 byte salt as hex. */
export interface KdfParams {
  name: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string;
}

/** A wallet key sealed with AES-256-GCM: a 12-byte IV and 32 bytes of ciphertext plus the 16-byte tag, as hex. */
export interface SealedKey {
  v: 1;
  iv: string;
  ct: string;
}

/** What a recovery key opens: its proof (the node keeps a salted hash) and the wallet key sealed under it. */
export interface RecoverySeal {
  proof: string;
  wallet: SealedKey;
}

/** The account record the node keeps and answers: no password, no key, only what the browser sealed. */
export interface AccountRecord {
  username: string;
  /** The wallet's address (EIP-55). */
  address: string;
  kdf: KdfParams;
  wallet: SealedKey;
  /** ms since the epoch. */
  createdAt: number;
  recoveryKeyCreatedAt: number;
}

/** A logged-in session: the bearer token, when it expires (ms since the epoch), and the account. */
export interface SessionGrant {
  token: string;
  expiresAt: number;
  account: AccountRecord;
}

/** POST /api/account/recover/start's answer: a one-time token to finish with, and the key sealed under the recovery key. */
export interface RecoveryGrant {
  recoveryToken: string;
  expiresAt: number;
  address: string;
  wallet: SealedKey;
}

/** A key sealed under a new password: its KDF parameters, the login proof derived from it, the sealed wallet key. */
export interface PasswordSeal {
  kdf: KdfParams;
  loginProof: string;
  wallet: SealedKey;
}

/** POST /api/account/register's body: everything the browser needs later to open its key again. */
export interface RegisterBody extends PasswordSeal {
  username: string;
  address: string;
  recovery: RecoverySeal;
}

/** POST /api/account/password's body. */
export interface ChangePasswordBody extends PasswordSeal {
  currentLoginProof: string;
}

/** POST /api/account/recover/finish's body. */
export interface RecoverFinishBody extends PasswordSeal {
  recoveryToken: string;
  recovery: RecoverySeal;
}
