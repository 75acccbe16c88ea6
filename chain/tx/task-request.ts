/**
 * A miner's request for a training task, signed by its wallet with EIP-712 typed data (same domain as transfers), so that
 * only the wallet's owner can take that wallet's task slots. It names the coordinator it is for (each coordinator
 * issues tasks; GET /api/round names the one answering), so a request seen by one node cannot be replayed at another
 * coordinator to fill the wallet's slots there. The nonce makes each signed request single-use; the node keeps seen
 * nonces for the freshness window only, and `issuedAt` bounds that window.
 * Browser-safe: no Node imports.
 */
import { parseAddress, type Address } from '../../protocol/address.js';
import { fromHex, isHex, toHex, type Hex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { privateKeyToAddress, recoverAddressJs, signDigest, type Signature } from '../../protocol/signature.js';
import { domainSeparator, type NetworkDomain } from './eip712.js';
import type { SignedTaskRequestBody } from '../../protocol/federation.js';

/** The typed-data definition, in the shape ethers' signTypedData and eth_signTypedData_v4 take. */
export const TASK_REQUEST_TYPES = {
  TaskRequest: [
    { name: 'wallet', type: 'address' },
    { name: 'coordinator', type: 'address' },
    { name: 'issuedAt', type: 'uint64' },
    { name: 'nonce', type: 'bytes32' },
  ],
} as const;

export interface TaskRequest {
  wallet: Address;
  /** The coordinator asked for the task: only it honours the request. */
  coordinator: Address;
  /** Unix time in milliseconds when the request was signed. */
  issuedAt: bigint;
  /** 32 random bytes, unique per request. */
  nonce: Hex;
}

const encoder = new TextEncoder();
const TYPE_HASH = keccak256(encoder.encode(`TaskRequest(${TASK_REQUEST_TYPES.TaskRequest.map((f) => `${f.type} ${f.name}`).join(',')})`));
const PREFIX = Uint8Array.of(0x19, 0x01);
const UINT64_MAX = (1n << 64n) - 1n;

/** The EIP-712 digest the wallet signs: keccak256(0x1901 || domainSeparator || hashStruct(request)). */
export function taskRequestDigest(req: TaskRequest, network: NetworkDomain): Uint8Array {
  const words = new Uint8Array(5 * 32);
  words.set(TYPE_HASH, 0);
  words.set(fromHex(req.wallet, 20), 32 + 12);
  words.set(fromHex(req.coordinator, 20), 64 + 12);
  let t = req.issuedAt;
  for (let i = 127; i >= 96 && t > 0n; i--, t >>= 8n) words[i] = Number(t & 0xffn);
  words.set(fromHex(req.nonce, 32), 128);
  return keccak256(PREFIX, domainSeparator(network), keccak256(words));
}

/** The typed-data message of a request, as an EIP-712 wallet (eth_signTypedData_v4) is asked to sign it. */
export function taskRequestMessage(req: TaskRequest): { wallet: string; coordinator: string; issuedAt: string; nonce: string } {
  return { wallet: req.wallet, coordinator: req.coordinator, issuedAt: req.issuedAt.toString(), nonce: req.nonce };
}

/** A fresh unsigned request for `wallet` to `coordinator`: now (unix ms) and 32 random bytes from the platform's CSPRNG. */
export function newTaskRequest(wallet: Address, coordinator: Address, now = Date.now()): TaskRequest {
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  return { wallet, coordinator, issuedAt: BigInt(Math.floor(now)), nonce: toHex(nonce) };
}

/** The POST body of a request and its 65-byte signature (r || s || v). */
export function taskRequestBody(req: TaskRequest, signature: Signature | Hex): SignedTaskRequestBody {
  return {
    wallet: req.wallet,
    coordinator: req.coordinator,
    issuedAt: req.issuedAt.toString(),
    nonce: req.nonce,
    signature: typeof signature === 'string' ? signature : toHex(signature),
  };
}

/** Signs a fresh request to `coordinator` (random nonce, issued `now`) with a raw private key. */
export function signTaskRequest(privateKey: Uint8Array, network: NetworkDomain, coordinator: Address, now?: number): SignedTaskRequestBody {
  const req = newTaskRequest(privateKeyToAddress(privateKey), coordinator, now);
  return taskRequestBody(req, signDigest(taskRequestDigest(req, network), privateKey));
}

export type TaskRequestParseResult =
  | { ok: true; request: TaskRequest; signature: Signature }
  | { ok: false; field: 'wallet' | 'coordinator' | 'issuedAt' | 'nonce' | 'signature' | 'body'; message: string };

/**
 * Validates a POST /api/task body into typed values. A signature's v of 0/1 (some hardware wallets) is read as 27/28;
 * its shape (low s, EIP-2) is checked by recovery.
 */
export function parseSignedTaskRequest(body: unknown): TaskRequestParseResult {
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
      message: `${(e as Error).message} (the address of the coordinator asked, as GET /api/round names it)`,
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

/** The address that signed `req`, or null for a signature that matches no key. Pure JS; one recovery per request. */
export function recoverTaskRequestSigner(req: TaskRequest, signature: Signature, network: NetworkDomain): Address | null {
  return recoverAddressJs(taskRequestDigest(req, network), signature);
}
