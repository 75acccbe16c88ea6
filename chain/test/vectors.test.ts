/**
 * Fixed vectors (chain/test/vectors.json): each encoding decodes and re-encodes byte for byte, each hash and
 * digest re-derives, and the values are checked against ethers v6 (RLP, keccak, EIP-712, signing) as an
 * independent implementation.
 */
import { readFileSync } from 'node:fs';
import { AbiCoder, concat, decodeRlp, encodeRlp, keccak256, recoverAddress, toBeArray, TypedDataEncoder, Wallet } from 'ethers';
import { describe, expect, it } from 'vitest';
import type { Address } from '../../protocol/address.js';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { decodeBlock, encodeBlock, encodeHeader, sealBlock, sealDigest, txRootOf, type BlockHeader } from '../block/block.js';
import { recoverAddressJs } from '../../protocol/signature.js';
import { decodeTx, encodeTx } from '../tx/codec.js';
import { EIP712_TYPES, eip712Domain, signingDigest, typedDataOf } from '../tx/eip712.js';
import { signTx, type UnsignedTx } from '../tx/sign.js';
import type { Tx } from '../tx/types.js';

interface TxVector {
  privateKey: string;
  fields: Record<string, unknown>;
  eip712Digest: string;
  signature: string;
  encoded: string;
  hash: string;
}
interface Vectors {
  chainId: string;
  /** The EIP-712 domain's salt: the genesis hash of the network the transactions are signed for. */
  genesisHash: string;
  transactions: TxVector[];
  block: {
    proposerKey: string;
    header: Record<string, string>;
    txs: string[];
    signature: string;
    sealDigest: string;
    txRoot: string;
    hash: string;
    encoded: string;
  };
}

const vectors = JSON.parse(readFileSync(new URL('./vectors.json', import.meta.url), 'utf8')) as Vectors;
const chainId = BigInt(vectors.chainId);
const network = { chainId, genesisHash: vectors.genesisHash as `0x${string}` };

const INT_FIELDS = new Set(['amount', 'nonce', 'modelVersion', 'offset', 'length', 'reward', 'version', 'parentVersion', 'shares']);

function unsignedOf(fields: Record<string, unknown>): UnsignedTx {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = INT_FIELDS.has(k) ? BigInt(v as string) : v;
  return out as unknown as UnsignedTx;
}

function headerOf(h: Record<string, string>): BlockHeader {
  return {
    chainId: BigInt(h.chainId!),
    height: BigInt(h.height!),
    parentHash: h.parentHash as `0x${string}`,
    timestamp: BigInt(h.timestamp!),
    proposer: h.proposer as Address,
    txRoot: h.txRoot as `0x${string}`,
    stateRoot: h.stateRoot as `0x${string}`,
  };
}

/** The same encoding built with ethers' RLP encoder from the vector's fields: type byte || rlp(fields || signature). */
function ethersEncoding(f: Record<string, unknown>, signature: string): string {
  const n = (k: string): Uint8Array => toBeArray(BigInt(f[k] as string | number));
  let fields: unknown[];
  switch (f.type) {
    case 'transfer':
      fields = [f.from, f.to, n('amount'), n('nonce')];
      break;
    case 'contribution':
      fields = [
        f.coordinator,
        f.miner,
        f.taskId,
        n('modelVersion'),
        f.shard,
        n('offset'),
        n('length'),
        f.gradientDigest,
        n('quality'),
        n('reward'),
      ];
      break;
    case 'model_version':
      fields = [
        f.coordinator,
        n('version'),
        n('parentVersion'),
        f.manifestDigest,
        f.contributions,
        n('outerLrPpm'),
        toBeArray(f.momentumRestart ? 1n : 0n),
      ];
      break;
    default:
      fields = [f.coordinator, f.node, f.requestId, n('spanStart'), n('spanEnd'), n('shares'), n('reward')];
  }
  const typeByte = { transfer: '0x01', contribution: '0x02', model_version: '0x03', inference_reward: '0x04' }[f.type as string]!;
  return concat([typeByte, encodeRlp([...fields, signature] as Parameters<typeof encodeRlp>[0])]);
}

describe('transaction vectors', () => {
  it('covers each of the four types once', () => {
    expect(vectors.transactions.map((v) => v.fields.type)).toEqual(['transfer', 'contribution', 'model_version', 'inference_reward']);
  });

  for (const v of vectors.transactions) {
    describe(String(v.fields.type), () => {
      const unsigned = unsignedOf(v.fields);
      const key = fromHex(v.privateKey, 32);

      it('decodes and re-encodes byte for byte, with the vector hash', () => {
        const decoded = decodeTx(fromHex(v.encoded));
        expect(decoded.tx).toEqual({ ...unsigned, signature: fromHex(v.signature, 65) });
        expect(toHex(encodeTx(decoded.tx))).toBe(v.encoded);
        expect(decoded.hash).toBe(v.hash);
      });

      it('signs to the vector signature, encoding and hash (RFC 6979, low s)', () => {
        const signed = signTx(unsigned, key, network);
        expect(toHex(signed.tx.signature)).toBe(v.signature);
        expect(toHex(signed.bytes)).toBe(v.encoded);
        expect(signed.hash).toBe(v.hash);
        expect(toHex(signingDigest(signed.tx, network))).toBe(v.eip712Digest);
      });

      it('matches ethers: RLP bytes, keccak hash, EIP-712 digest, signature and signer', async () => {
        expect(ethersEncoding(v.fields, v.signature)).toBe(v.encoded);
        expect(keccak256(v.encoded)).toBe(v.hash);
        const tx = { ...unsigned, signature: fromHex(v.signature, 65) } as Tx;
        const { primaryType, message } = typedDataOf(tx);
        const types = { [primaryType]: [...EIP712_TYPES[primaryType]] };
        const domain = eip712Domain(network);
        expect(domain).toEqual({ name: 'Ailo Network', version: '1', chainId, salt: vectors.genesisHash });
        expect(TypedDataEncoder.hash(domain, types, message)).toBe(v.eip712Digest);
        const signer = new Wallet(v.privateKey);
        expect((await signer.signTypedData(domain, types, message)).toLowerCase()).toBe(v.signature);
        expect(recoverAddress(v.eip712Digest, v.signature).toLowerCase()).toBe(signer.address.toLowerCase());
        expect(recoverAddressJs(fromHex(v.eip712Digest, 32), fromHex(v.signature, 65))).toBe(signer.address.toLowerCase());
      });
    });
  }

  it('InferenceReward signs the request, the span and the shares', () => {
    expect(TypedDataEncoder.from({ InferenceReward: [...EIP712_TYPES.InferenceReward] }).encodeType('InferenceReward')).toBe(
      'InferenceReward(address coordinator,address node,bytes32 requestId,uint64 spanStart,uint64 spanEnd,uint64 shares,uint256 reward)',
    );
  });

  it('Transfer digest equals the EIP-712 formula written out with ethers primitives', () => {
    const v = vectors.transactions[0]!;
    const f = v.fields as Record<string, string>;
    const coder = AbiCoder.defaultAbiCoder();
    const typeHash = keccak256(new TextEncoder().encode('Transfer(address from,address to,uint256 amount,uint64 nonce)'));
    const domainTypeHash = keccak256(new TextEncoder().encode('EIP712Domain(string name,string version,uint256 chainId,bytes32 salt)'));
    const separator = keccak256(
      coder.encode(
        ['bytes32', 'bytes32', 'bytes32', 'uint256', 'bytes32'],
        [
          domainTypeHash,
          keccak256(new TextEncoder().encode('Ailo Network')),
          keccak256(new TextEncoder().encode('1')),
          chainId,
          vectors.genesisHash,
        ],
      ),
    );
    const struct = keccak256(
      coder.encode(['bytes32', 'address', 'address', 'uint256', 'uint64'], [typeHash, f.from, f.to, BigInt(f.amount!), BigInt(f.nonce!)]),
    );
    expect(keccak256(concat(['0x1901', separator, struct]))).toBe(v.eip712Digest);
  });
});

describe('block vector', () => {
  const v = vectors.block;
  const header = headerOf(v.header);

  it('decodes and re-encodes byte for byte, re-deriving hash, txRoot and seal digest', () => {
    const block = decodeBlock(fromHex(v.encoded));
    expect(block.header).toEqual(header);
    expect(block.txs.map((t) => toHex(t.bytes))).toEqual(v.txs);
    expect(toHex(block.signature)).toBe(v.signature);
    expect(toHex(encodeBlock(block))).toBe(v.encoded);
    expect(block.hash).toBe(v.hash);
    expect(txRootOf(block.txs)).toBe(v.txRoot);
    expect(header.txRoot).toBe(v.txRoot);
    expect(toHex(sealDigest(header))).toBe(v.sealDigest);
  });

  it('seals to the vector signature with the proposer key', () => {
    const txs = v.txs.map((t) => decodeTx(fromHex(t)));
    const block = sealBlock(header, txs, fromHex(v.proposerKey, 32));
    expect(toHex(block.signature)).toBe(v.signature);
    expect(toHex(encodeBlock(block))).toBe(v.encoded);
  });

  it('matches ethers: header RLP, seal digest, hash, Merkle root and seal signer', () => {
    const h = v.header;
    const headerRlp = encodeRlp([
      toBeArray(BigInt(h.chainId!)),
      toBeArray(BigInt(h.height!)),
      h.parentHash!,
      toBeArray(BigInt(h.timestamp!)),
      h.proposer!,
      h.txRoot!,
      h.stateRoot!,
    ]);
    const headerBytes = concat(['0x01', headerRlp]);
    expect(toHex(encodeHeader(header))).toBe(headerBytes);
    expect(keccak256(headerBytes)).toBe(v.sealDigest);
    expect(keccak256(concat([headerBytes, v.signature]))).toBe(v.hash);
    expect(concat(['0x01', encodeRlp([decodeRlp(headerRlp), v.signature, v.txs])])).toBe(v.encoded);
    const leaf = (txBytes: string): string => keccak256(concat(['0x00', keccak256(txBytes)]));
    expect(keccak256(concat(['0x01', leaf(v.txs[0]!), leaf(v.txs[1]!)]))).toBe(v.txRoot);
    expect(recoverAddress(v.sealDigest, v.signature).toLowerCase()).toBe(h.proposer);
  });
});
