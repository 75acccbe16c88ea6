import { describe, expect, it } from 'vitest';
import { toHex, type Hex } from '../../protocol/bytes.js';
import { JsVerifier } from '../../chain/crypto/verifier.js';
import { wallet } from '../../chain/test/fixtures.js';
import { RequestAuthenticator } from './authenticator.js';
import { ENVELOPE_HEADERS, HandshakeError, NodeIdentity, requestDigest, verifyHello, verifyResponse } from './envelope.js';

const domain = `0x${'11'.repeat(32)}` as Hex;
const otherDomain = `0x${'22'.repeat(32)}` as Hex;
const recipient = 'http://127.0.0.1:2';
const T = 1_700_000_000_000;
const sender = new NodeIdentity(wallet(601).key, 'http://127.0.0.1:1', domain, () => T);

/** Authenticates a request as the recipient would, with any field of it changed. */
async function receive(
  headers: Record<string, string>,
  o: { method?: string; url?: string; body?: Uint8Array; self?: string; domain?: Hex; now?: number } = {},
) {
  const auth = new RequestAuthenticator(o.domain ?? domain, o.self ?? recipient, new JsVerifier(), () => o.now ?? T);
  return auth.authenticate({
    method: o.method ?? 'POST',
    url: o.url ?? '/api/p2p/tx',
    header: (n) => headers[n],
    body: o.body ?? Uint8Array.of(1, 2, 3),
  });
}

describe('peer request envelope', () => {
  const headers = sender.sign('POST', recipient, '/api/p2p/tx', Uint8Array.of(1, 2, 3));

  it('proves its sender, and pins the digest (fixed vector)', async () => {
    expect(await receive(headers)).toEqual({ node: sender.id, url: sender.url });
    expect(toHex(requestDigest(domain, 'post', '/api/p2p/tx?a=1', T, recipient, sender.url, `0x${'00'.repeat(32)}` as Hex))).toBe(
      toHex(requestDigest(domain, 'POST', '/api/p2p/tx?a=1', T, recipient, sender.url, `0x${'00'.repeat(32)}` as Hex)),
    );
    // keccak256 of the UTF-8 of ["ailo-peer-request/1","0x11…11","POST","/p","1","http://a:1","http://b:2","0x00…00"],
    // checked with ethers' keccak256.
    expect(toHex(requestDigest(domain, 'POST', '/p', 1, 'http://a:1', 'http://b:2', `0x${'00'.repeat(32)}` as Hex))).toBe(
      '0xf7b5fa12a76b03ae426b37527cab378f478c944fa0b94d97eccd7207a6f7f4ef',
    );
  });

  it('is anonymous when anything signed was changed, or the signature or a header is missing', async () => {
    const changed: [string, Parameters<typeof receive>][] = [
      ['method', [headers, { method: 'PUT' }]],
      ['path', [headers, { url: '/api/p2p/block' }]],
      ['query', [headers, { url: '/api/p2p/tx?x=1' }]],
      ['body', [headers, { body: Uint8Array.of(1, 2, 4) }]],
      ['recipient', [headers, { self: 'http://127.0.0.1:3' }]],
      ['network', [headers, { domain: otherDomain }]],
      ['sender URL', [{ ...headers, [ENVELOPE_HEADERS.url]: 'http://evil:1' }, {}]],
      ['time', [{ ...headers, [ENVELOPE_HEADERS.time]: String(T + 1) }, {}]],
      ['node id', [{ ...headers, [ENVELOPE_HEADERS.node]: wallet(602).address }, {}]],
      ['signature', [{ ...headers, [ENVELOPE_HEADERS.signature]: `0x${'ab'.repeat(65)}` }, {}]],
      ['no signature', [{ ...headers, [ENVELOPE_HEADERS.signature]: '' }, {}]],
      ['no headers', [{}, {}]],
    ];
    for (const [what, args] of changed) expect(await receive(...args), what).toBeUndefined();
  });

  it('refuses a replay and a clock outside ±30 s, naming the skew', async () => {
    const auth = new RequestAuthenticator(domain, recipient, new JsVerifier(), () => T);
    const req = { method: 'POST', url: '/api/p2p/tx', header: (n: string) => headers[n], body: Uint8Array.of(1, 2, 3) };
    expect(await auth.authenticate(req)).toBeDefined();
    await expect(auth.authenticate(req)).rejects.toMatchObject({ status: 401, code: 'PEER_REPLAYED' });
    await expect(receive(headers, { now: T - 31_000 })).rejects.toMatchObject({
      status: 401,
      code: 'PEER_CLOCK_SKEW',
      message: expect.stringMatching(/31 s ahead/),
    });
    await expect(receive(headers, { now: T + 45_000 })).rejects.toMatchObject({
      code: 'PEER_CLOCK_SKEW',
      message: expect.stringMatching(/45 s behind/),
    });
    expect(await receive(headers, { now: T + 29_000 })).toBeDefined();
  });
});

describe('hello handshake', () => {
  const nonce = `0x${'5a'.repeat(32)}` as Hex;

  it('proves the node id serving the URL dialled', () => {
    expect(verifyHello(sender.hello(nonce), domain, nonce, sender.url)).toBe(sender.id);
  });

  it('refuses another nonce, another network, another URL, a forged id and junk', () => {
    const answer = sender.hello(nonce);
    expect(() => verifyHello(answer, domain, `0x${'5b'.repeat(32)}` as Hex, sender.url)).toThrow(HandshakeError);
    expect(() => verifyHello(answer, otherDomain, nonce, sender.url)).toThrow(/not .*'s/);
    expect(() => verifyHello(answer, domain, nonce, 'http://127.0.0.1:9')).toThrow(/answered the handshake as http:\/\/127.0.0.1:1/);
    expect(() => verifyHello({ ...answer, node: wallet(602).address }, domain, nonce, sender.url)).toThrow(HandshakeError);
    expect(() => verifyHello({ ...answer, url: 'http://127.0.0.1:9' }, domain, nonce, 'http://127.0.0.1:9')).toThrow(HandshakeError);
    expect(() => verifyHello('hello', domain, nonce, sender.url)).toThrow(/unknown shape/);
  });
});

describe('signed answer', () => {
  it('binds the answer to the one request and the answering node', () => {
    const request = `0x${'ab'.repeat(65)}`;
    const body = Uint8Array.of(7, 8, 9);
    const sig = sender.signResponse(request, body);
    expect(verifyResponse(domain, request, body, sig, sender.id)).toBe(true);
    expect(verifyResponse(domain, request.toUpperCase().replace('0X', '0x'), body, sig, sender.id)).toBe(true);
    expect(verifyResponse(domain, `0x${'ac'.repeat(65)}`, body, sig, sender.id), 'another request').toBe(false);
    expect(verifyResponse(domain, request, Uint8Array.of(7, 8), sig, sender.id), 'another body').toBe(false);
    expect(verifyResponse(otherDomain, request, body, sig, sender.id), 'another network').toBe(false);
    expect(verifyResponse(domain, request, body, sig, wallet(602).address), 'another node').toBe(false);
    expect(verifyResponse(domain, request, body, null, sender.id), 'unsigned').toBe(false);
  });
});
