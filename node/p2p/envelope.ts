/**
 * Who a peer message comes from. As in devp2p (and libp2p's peer ids), a node *is* its secp256k1 key: its node id is
 * the Ethereum address of that key, and nothing a peer says about itself counts until a signature proves it. Over
 * HTTP that takes two pieces:
 * - a signed envelope in four headers on every peer request, over a domain-separated digest of (genesis hash, method,
 *   path and query, timestamp, recipient origin, sender URL, sha256 of the body), so a message can be neither
 *   altered, replayed to another node, nor replayed later than the clock window;
 * - a handshake, `GET /api/p2p/hello?nonce=`, whose answer signs (genesis hash, nonce, URL): a URL is dialled for
 *   anything else only once the node serving it proved its id there;
 * - a signature over the answer to a signed request, where a peer could be blamed for what the answer holds (sync's
 *   block pages): over (genesis hash, the request's signature, sha256 of the answer), so it answers that request only.
 */
import { createHash } from 'node:crypto';
import { type Address } from '../../protocol/address.js';
import { fromHex, isHex, toHex, type Hex } from '../../protocol/bytes.js';
import { keccak256 } from '../../protocol/keccak.js';
import { privateKeyToAddress, recoverAddressJs, signDigest } from '../../protocol/signature.js';

export const ENVELOPE_HEADERS = {
  node: 'x-ailo-node',
  url: 'x-ailo-node-url',
  time: 'x-ailo-time',
  signature: 'x-ailo-signature',
} as const;

/** How far a sender's timestamp may be from this node's clock; also how long a seen envelope is remembered. */
export const MAX_CLOCK_SKEW_MS = 30_000;

/** On an answer: the answering node's signature (see responseDigest). */
export const RESPONSE_SIGNATURE_HEADER = 'x-ailo-response-signature';

const REQUEST_DOMAIN = 'ailo-peer-request/1';
const HELLO_DOMAIN = 'ailo-peer-hello/1';
const RESPONSE_DOMAIN = 'ailo-peer-response/1';
const encoder = new TextEncoder();

/** The signed envelope as read from a request's headers (shape only; nothing in it is proven yet). */
export interface RequestEnvelope {
  node: Address;
  url: string;
  time: number;
  signature: Uint8Array;
}

/** A peer's answer to the handshake. */
export interface HelloAnswer {
  node: Address;
  url: string;
  signature: Hex;
}

export function sha256(bytes: Uint8Array): Hex {
  return `0x${createHash('sha256').update(bytes).digest('hex')}` as Hex;
}

/**
 * A host as URL.hostname gives it, limited to what names a machine: DNS labels (letters, digits, hyphens; RFC 1123),
 * an IPv4 address, or a bracketed IPv6 address. WHATWG URL parsing keeps characters such as `;`, `,`, `*` and `'` in
 * host names, and a peer's URL goes into headers (the wallet page's Content-Security-Policy) and logs.
 */
const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])$/;

/** The URL's origin (`http://host:port`), or undefined for anything but an http(s) URL of a plain host (see HOST). */
export function originOf(raw: unknown): string | undefined {
  if (typeof raw !== 'string' || raw.length > 2048) return undefined;
  try {
    const u = new URL(raw);
    return (u.protocol === 'http:' || u.protocol === 'https:') && HOST.test(u.hostname) ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/** Fields are JSON-encoded as one array, so no two field lists share an encoding. */
export function requestDigest(
  domain: Hex,
  method: string,
  pathAndQuery: string,
  time: number,
  recipient: string,
  url: string,
  bodyHash: Hex,
): Uint8Array {
  return keccak256(
    encoder.encode(JSON.stringify([REQUEST_DOMAIN, domain, method.toUpperCase(), pathAndQuery, String(time), recipient, url, bodyHash])),
  );
}

export function responseDigest(domain: Hex, requestSignature: string, bodyHash: Hex): Uint8Array {
  return keccak256(encoder.encode(JSON.stringify([RESPONSE_DOMAIN, domain, requestSignature.toLowerCase(), bodyHash])));
}

/** Whether `signature` (hex, from RESPONSE_SIGNATURE_HEADER) is `node`'s over this answer to the request signed `requestSignature`. */
export function verifyResponse(domain: Hex, requestSignature: string, body: Uint8Array, signature: string | null, node: Address): boolean {
  if (!isHex(signature, 65)) return false;
  return recoverAddressJs(responseDigest(domain, requestSignature, sha256(body)), fromHex(signature, 65)) === node;
}

export function helloDigest(domain: Hex, nonce: Hex, url: string): Uint8Array {
  return keccak256(encoder.encode(JSON.stringify([HELLO_DOMAIN, domain, nonce, url])));
}

/** Reads the envelope headers into a typed value; undefined when any is missing or malformed. */
export function readEnvelope(header: (name: string) => string | undefined): RequestEnvelope | undefined {
  const node = header(ENVELOPE_HEADERS.node)?.toLowerCase();
  const url = originOf(header(ENVELOPE_HEADERS.url));
  const time = header(ENVELOPE_HEADERS.time);
  const signature = header(ENVELOPE_HEADERS.signature);
  if (!isHex(node, 20) || !url || !time || !/^[0-9]{1,15}$/.test(time) || !isHex(signature, 65)) return undefined;
  return { node: node as Address, url, time: Number(time), signature: fromHex(signature, 65) };
}

/** This node's identity: signs its outgoing peer requests and answers handshakes. The key never leaves it. */
export class NodeIdentity {
  readonly id: Address;

  constructor(
    private readonly key: Uint8Array,
    /** The URL peers reach this node at (its origin). */
    readonly url: string,
    /** The genesis hash: messages of one network mean nothing on another. */
    readonly domain: Hex,
    readonly now: () => number = Date.now,
  ) {
    this.id = privateKeyToAddress(key);
  }

  /** The four envelope headers for a request to `recipient` (an origin). */
  sign(method: string, recipient: string, pathAndQuery: string, body: Uint8Array = new Uint8Array()): Record<string, string> {
    const time = this.now();
    const digest = requestDigest(this.domain, method, pathAndQuery, time, recipient, this.url, sha256(body));
    return {
      [ENVELOPE_HEADERS.node]: this.id,
      [ENVELOPE_HEADERS.url]: this.url,
      [ENVELOPE_HEADERS.time]: String(time),
      [ENVELOPE_HEADERS.signature]: toHex(signDigest(digest, this.key)),
    };
  }

  /** Signs an answer `body` to the request whose envelope signature is `requestSignature`. */
  signResponse(requestSignature: string, body: Uint8Array): Hex {
    return toHex(signDigest(responseDigest(this.domain, requestSignature, sha256(body)), this.key));
  }

  hello(nonce: Hex): HelloAnswer {
    return { node: this.id, url: this.url, signature: toHex(signDigest(helloDigest(this.domain, nonce, this.url), this.key)) };
  }
}

export class HandshakeError extends Error {
  override name = 'HandshakeError';
}

/**
 * Checks a handshake answer from the node dialled at `dialled`: the signature must recover to the node id it names,
 * over our nonce and the very URL we dialled (a node answering for another URL is a relay, not that peer).
 */
export function verifyHello(answer: unknown, domain: Hex, nonce: Hex, dialled: string): Address {
  const a = answer as Partial<Record<keyof HelloAnswer, unknown>> | null;
  if (typeof a !== 'object' || a === null || !isHex(a.node, 20) || typeof a.url !== 'string' || !isHex(a.signature, 65)) {
    throw new HandshakeError(`${dialled} answered the handshake in an unknown shape`);
  }
  const signer = recoverAddressJs(helloDigest(domain, nonce, a.url), fromHex(a.signature, 65));
  if (signer !== a.node.toLowerCase())
    throw new HandshakeError(`${dialled} answered the handshake with a signature that is not ${a.node}'s (or is for another network)`);
  if (originOf(a.url) !== dialled)
    throw new HandshakeError(`${dialled} answered the handshake as ${a.url}; that node must be dialled there (or set its --public-url)`);
  return signer;
}
