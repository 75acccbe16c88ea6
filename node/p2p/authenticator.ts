/**
 * The receiving side of the envelope (see envelope.ts): proves which node sent a request, or says it is anonymous.
 * A missing or bad signature makes a request anonymous (served like any client's, limited by IP, never blamed on a
 * node); a proven envelope outside the clock window, or one seen before, is refused.
 */
import type { Address } from '../../protocol/address.js';
import { toHex, type Hex } from '../../protocol/bytes.js';
import type { SignatureVerifier } from '../../chain/crypto/verifier.js';
import { ApiError } from '../api/errors.js';
import { MAX_CLOCK_SKEW_MS, readEnvelope, requestDigest, sha256 } from './envelope.js';

/** A node proven by its envelope: the one identity scores, rate limits and bans attach to. */
export interface PeerSender {
  node: Address;
  /** The URL it says it serves at (signed, but not proven to be its: only a handshake there proves that). */
  url: string;
}

export interface PeerRequest {
  method: string;
  /** Path and query, exactly as sent. */
  url: string;
  header: (name: string) => string | undefined;
  body: Uint8Array;
}

/** Envelopes remembered against replay; past this many within the window, new ones count as anonymous. */
const MAX_REMEMBERED = 100_000;

const replayed = (): ApiError =>
  new ApiError(401, 'PEER_REPLAYED', 'this signed peer message was already received; a peer signs every message afresh');

export class RequestAuthenticator {
  /** Digest of each proven envelope -> when it leaves the window. */
  private readonly seen = new Map<Hex, number>();

  constructor(
    private readonly domain: Hex,
    /** This node's own origin: envelopes addressed elsewhere are not for us. */
    private readonly self: string,
    private readonly verifier: SignatureVerifier,
    private readonly now: () => number = Date.now,
  ) {}

  /** The proven sender, or undefined for an anonymous request; throws 401 for a skewed or replayed envelope. */
  async authenticate(req: PeerRequest): Promise<PeerSender | undefined> {
    const envelope = readEnvelope(req.header);
    if (!envelope) return undefined;
    const t = this.now();
    const skew = envelope.time - t;
    if (Math.abs(skew) > MAX_CLOCK_SKEW_MS) {
      throw new ApiError(
        401,
        'PEER_CLOCK_SKEW',
        `the sender's clock is ${Math.round(skew / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} this node's (at most ${MAX_CLOCK_SKEW_MS / 1000} s allowed); fix the clock (NTP) on one of them`,
      );
    }
    const digestBytes = requestDigest(this.domain, req.method, req.url, envelope.time, this.self, envelope.url, sha256(req.body));
    const digest = toHex(digestBytes);
    if (this.seen.has(digest)) throw replayed();
    const [signer] = await this.verifier.recoverMany([digestBytes], [envelope.signature]);
    if (signer !== envelope.node) return undefined;
    if (this.seen.has(digest)) throw replayed(); // the same envelope twice at once
    if (!this.remember(digest, envelope.time + MAX_CLOCK_SKEW_MS, t)) return undefined;
    return { node: envelope.node, url: envelope.url };
  }

  private remember(digest: Hex, until: number, t: number): boolean {
    if (this.seen.size >= MAX_REMEMBERED) {
      for (const [d, expires] of this.seen) if (expires < t) this.seen.delete(d);
      if (this.seen.size >= MAX_REMEMBERED) return false;
    }
    this.seen.set(digest, until);
    return true;
  }
}
