/**
 * Requests a wallet signs with EIP-712 typed data (same domain as transfers) to prove it is the wallet's owner:
 * - `TaskRequest`: a miner asks for a training task, so that only the wallet's owner can take its task slots;
 * - `InferenceJoin`: a contributor joins an inference room, so that only the wallet's owner is paid for its spans.
 * Both have the same four fields under their own primary type, so a signature made for one never verifies as the other.
 * A request names the coordinator it is for (each coordinator issues tasks and runs rooms; GET /api/round and
 * GET /api/status name it), so a request seen by one node cannot be replayed at another coordinator. The nonce makes
 * each signed request single-use; the node keeps seen nonces for the freshness window only, and `issuedAt` bounds that
 * window (node/federation/task-request-guard.ts).
 * Browser-safe: no Node imports.
 */
import { parseAddress, type Address } from '../../protocol/address.js';
import { fromHex, isHex, toHex, type Hex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { privateKeyToAddress, recoverAddressJs, signDigest, type Signature } from '../../protocol/signature.js';
import { domainSeparator, type NetworkDomain } from './eip712.js';
import type { SignedTaskRequestBody } from '../../protocol/federation.js';

/** The EIP-712 primary types of wallet-signed requests. */
export type WalletRequestType = 'TaskRequest' | 'InferenceJoin';

const WALLET_REQUEST_FIELDS = [
  { name: 'wallet', type: 'address' },
  { name: 'coordinator', type: 'address' },
  { name: 'issuedAt', type: 'uint64' },
  { name: 'nonce', type: 'bytes32' },
] as const;

export interface WalletRequest {
  wallet: Address;
  /** The coordinator the request is for: only it honours the request. */
  coordinator: Address;
  /** Unix time in milliseconds when the request was signed. */
  issuedAt: bigint;
  /** 32 random bytes, unique per request. */
  nonce: Hex;
}
/** A miner's request for a training task (EIP-712 `TaskRequest`). */
export type TaskRequest = WalletRequest;
/** A contributor's join of an inference room (EIP-712 `InferenceJoin`). */
export type InferenceJoin = WalletRequest;

export type WalletRequestParseResult =
  | { ok: true; request: WalletRequest; signature: Signature }
  | { ok: false; field: 'wallet' | 'coordinator' | 'issuedAt' | 'nonce' | 'signature' | 'body'; message: string };

/** Digest, signing, parsing and verification of one primary type of wallet-signed request. */
export interface WalletRequestScheme<P extends WalletRequestType> {
  primaryType: P;
  /** The typed-data definition, in the shape ethers' signTypedData and eth_signTypedData_v4 take. */
  types: { readonly [K in P]: typeof WALLET_REQUEST_FIELDS };
  /** The EIP-712 digest the wallet signs: keccak256(0x1901 || domainSeparator || hashStruct(request)). */
  digest(req: WalletRequest, network: NetworkDomain): Uint8Array;
  /** Signs a fresh request to `coordinator` (random nonce, issued `now`) with a raw private key. */
  sign(privateKey: Uint8Array, network: NetworkDomain, coordinator: Address, now?: number): SignedTaskRequestBody;
  /**
   * Validates a signed body into typed values. A signature's v of 0/1 (some hardware wallets) is read as 27/28; its
   * shape (low s, EIP-2) is checked by recovery.
   */
  parse(body: unknown): WalletRequestParseResult;
  /** The address that signed `req`, or null for a signature that matches no key. Pure JS; one recovery per request. */
  recoverSigner(req: WalletRequest, signature: Signature, network: NetworkDomain): Address | null;
  /**
   * `parse`, then refuses a request for another coordinator than `coordinator` (field `coordinator`) or whose signature
   * does not recover to its wallet on `network` (field `signature`). Freshness and single use are the caller's
   * (TaskRequestGuard).
   */
  verify(body: unknown, network: NetworkDomain, coordinator: Address): WalletRequestParseResult;
}

const encoder = new TextEncoder();
const PREFIX = Uint8Array.of(0x19, 0x01);
const UINT64_MAX = (1n << 64n) - 1n;

/**
 * The scheme of `primaryType`. `what` names the request in messages; `coordinatorSource` says where a client reads
 * the coordinator's address.
 */
function walletRequestScheme<P extends WalletRequestType>(primaryType: P, what: string, coordinatorSource: string): WalletRequestScheme<P> {
  const typeHash = keccak256(encoder.encode(`${primaryType}(${WALLET_REQUEST_FIELDS.map((f) => `${f.type} ${f.name}`).join(',')})`));
  const digest = (req: WalletRequest, network: NetworkDomain): Uint8Array => {
    const words = new Uint8Array(5 * 32);
    words.set(typeHash, 0);
    words.set(fromHex(req.wallet, 20), 32 + 12);
    words.set(fromHex(req.coordinator, 20), 64 + 12);
    let t = req.issuedAt;
    for (let i = 127; i >= 96 && t > 0n; i--, t >>= 8n) words[i] = Number(t & 0xffn);
    words.set(fromHex(req.nonce, 32), 128);
    return keccak256(PREFIX, domainSeparator(network), keccak256(words));
  };
  const recoverSigner = (req: WalletRequest, signature: Signature, network: NetworkDomain): Address | null =>
    recoverAddressJs(digest(req, network), signature);
  const parse = (body: unknown): WalletRequestParseResult => parseWalletRequest(body, coordinatorSource);
  return {
    primaryType,
    types: { [primaryType]: WALLET_REQUEST_FIELDS } as { readonly [K in P]: typeof WALLET_REQUEST_FIELDS },
    digest,
    sign: (privateKey, network, coordinator, now) => {
      const req = newWalletRequest(privateKeyToAddress(privateKey), coordinator, now);
      return walletRequestBody(req, signDigest(digest(req, network), privateKey));
    },
    parse,
    recoverSigner,
    verify: (body, network, coordinator) => {
      const parsed = parse(body);
      if (!parsed.ok) return parsed;
      const { request } = parsed;
      if (request.coordinator !== coordinator) {
        return {
          ok: false,
          field: 'coordinator',
          message: `the ${what} is signed for coordinator ${request.coordinator}, and this is coordinator ${coordinator}: sign it for the coordinator ${coordinatorSource} names here`,
        };
      }
      const signer = recoverSigner(request, parsed.signature, network);
      if (signer !== request.wallet) {
        return {
          ok: false,
          field: 'signature',
          message:
            `the ${what} is not signed by ${request.wallet} for this network (chainId ${network.chainId}, genesis ${network.genesisHash}; ` +
            `it recovers to ${signer ?? 'no key'}); sign the ${primaryType} typed data with that wallet's key ` +
            '(EIP-712, domain "Ailo Network" version 1 with this chainId and the genesis hash as salt, both in GET /api/status)',
        };
      }
      return parsed;
    },
  };
}

export const taskRequestScheme = walletRequestScheme('TaskRequest', 'task request', 'GET /api/round');
export const inferenceJoinScheme = walletRequestScheme('InferenceJoin', 'inference join', 'GET /api/status');

/** The typed-data message of a request, as an EIP-712 wallet (eth_signTypedData_v4) is asked to sign it. */
export function walletRequestMessage(req: WalletRequest): { wallet: string; coordinator: string; issuedAt: string; nonce: string } {
  return { wallet: req.wallet, coordinator: req.coordinator, issuedAt: req.issuedAt.toString(), nonce: req.nonce };
}

/** A fresh unsigned request for `wallet` to `coordinator`: now (unix ms) and 32 random bytes from the platform's CSPRNG. */
export function newWalletRequest(wallet: Address, coordinator: Address, now = Date.now()): WalletRequest {
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  return { wallet, coordinator, issuedAt: BigInt(Math.floor(now)), nonce: toHex(nonce) };
}

/** The signed body of a request (POST /api/task, a room's `join`) with its 65-byte signature (r || s || v). */
export function walletRequestBody(req: WalletRequest, signature: Signature | Hex): SignedTaskRequestBody {
  return {
    wallet: req.wallet,
    coordinator: req.coordinator,
    issuedAt: req.issuedAt.toString(),
    nonce: req.nonce,
    signature: typeof signature === 'string' ? signature : toHex(signature),
  };
}

function parseWalletRequest(body: unknown, coordinatorSource: string): WalletRequestParseResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, field: 'body', message: 'the body must be a JSON object { wallet, coordinator, issuedAt, nonce, signature }' };
  }
  const b = body as Record<string, unknown>;
  let wallet: Address;
  try {
    wallet = parseAddress(b.wallet, 'wallet');
  } catch (e) {
    return { ok: false, field: 'wallet', message: (e as Error).message };
  }
  let coordinator: Address;
  try {
    coordinator = parseAddress(b.coordinator, 'coordinator');
  } catch (e) {
    return {
      ok: false,
      field: 'coordinator',
      message: `${(e as Error).message} (the address of the coordinator asked, as ${coordinatorSource} names it)`,
    };
  }
  if (typeof b.issuedAt !== 'string' || !/^[0-9]{1,20}$/.test(b.issuedAt) || BigInt(b.issuedAt) > UINT64_MAX) {
    return { ok: false, field: 'issuedAt', message: 'issuedAt must be a decimal string of unix milliseconds' };
  }
  if (!isHex(b.nonce, 32)) return { ok: false, field: 'nonce', message: 'nonce must be 0x followed by 64 hex digits (32 random bytes)' };
  if (!isHex(b.signature, 65)) {
    return { ok: false, field: 'signature', message: 'signature must be 0x followed by 130 hex digits (65 bytes r || s || v)' };
  }
  const signature = fromHex(b.signature, 65);
  if (signature[64]! < 2) signature[64] = signature[64]! + 27;
  return {
    ok: true,
    request: { wallet, coordinator, issuedAt: BigInt(b.issuedAt), nonce: b.nonce.toLowerCase() as Hex },
    signature,
  };
}

// The TaskRequest scheme's functions, by the names the federation uses.
export const TASK_REQUEST_TYPES = taskRequestScheme.types;
export const taskRequestDigest = taskRequestScheme.digest;
export const signTaskRequest = taskRequestScheme.sign;
/** Validates a POST /api/task body into typed values (see WalletRequestScheme.parse). */
export const parseSignedTaskRequest = taskRequestScheme.parse;
export const recoverTaskRequestSigner = taskRequestScheme.recoverSigner;

// The InferenceJoin scheme's functions: what a room contributor signs first (protocol/inference.ts SignedJoinBody).
export const INFERENCE_JOIN_TYPES = inferenceJoinScheme.types;
export const inferenceJoinDigest = inferenceJoinScheme.digest;
export const signInferenceJoin = inferenceJoinScheme.sign;
export const parseSignedInferenceJoin = inferenceJoinScheme.parse;
export const recoverInferenceJoinSigner = inferenceJoinScheme.recoverSigner;
export const verifyInferenceJoin = inferenceJoinScheme.verify;
