/**
 * Deterministic, checkable aggregation (issue 13): a model version's bytes are a pure function of its parent, its
 * listed updates and its recorded outer step, the same in a second process; `auditModels` recomputes a history and
 * names the first version that does not match, whether the recorded digest, the served update or the contribution
 * list is what is wrong.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainSpec } from '../../chain/spec.js';
import type { ContributionTx, Hash, ModelVersionTx } from '../../chain/tx/types.js';
import type { Hex } from '../../protocol/bytes.js';
import { decodeUpdate, encodeUpdate } from '../../trainer/codec/update-codec.js';
import { applyRound, type OuterStepRecord } from '../../trainer/federated/outer-optimizer.js';
import { compressTaskUpdate } from '../../trainer/federated/task-update.js';
import { numel, paramSpecs, presetConfig } from '../../trainer/model/config.js';
import { initWeights, type Weights } from '../../trainer/model/weights.js';
import { auditModels, ModelHistory, UpdateSourceError } from './model-audit.js';
import { buildManifest, GENESIS_INIT_SEED, sha256Hex } from './model-store.js';
import { pseudoRandomUpdate } from '../test/updates.js';

const MODEL = 'ailo-tiny';
const cfg = presetConfig(MODEL);
const sizes = new Map(paramSpecs(cfg).map((s) => [s.name, numel(s.shape)]));
const spec = { model: MODEL } as ChainSpec;
const hex = (n: number): Hash => `0x${n.toString(16).padStart(64, '0')}`;

const update = (seed: number): { bytes: Uint8Array; digest: Hex } => pseudoRandomUpdate(cfg, seed);

function contribution(digest: Hex, length: number): ContributionTx {
  return { type: 'contribution', gradientDigest: digest, length: BigInt(length) } as ContributionTx;
}

function modelVersion(version: number, contributions: Hash[], manifestDigest: Hash, step: OuterStepRecord): ModelVersionTx {
  return {
    type: 'model_version',
    version: BigInt(version),
    parentVersion: BigInt(version - 1),
    contributions,
    manifestDigest,
    ...step,
  } as ModelVersionTx;
}

describe('deterministic aggregation', () => {
  const u = [update(1), update(2), update(3)];
  const served = new Map(u.map((x) => [x.digest, x.bytes]));
  const step1: OuterStepRecord = { outerLrPpm: 900_000, momentumRestart: false };
  const step2: OuterStepRecord = { outerLrPpm: 450_000, momentumRestart: false };
  let v1: Hex, v2: Hex;
  let dir: string;

  /** What a coordinator publishes: version 1 from updates 0 and 1, version 2 from update 2 (with version 1's momentum). */
  beforeAll(() => {
    const genesis = initWeights(cfg, GENESIS_INIT_SEED);
    const first = applyRound(
      genesis,
      undefined,
      [0, 1].map((i) => ({ update: decodeUpdate(u[i]!.bytes, sizes), tokens: 200 + i })),
      step1,
    );
    v1 = buildManifest(MODEL, cfg, 1, first.weights).digest;
    const second = applyRound(first.weights, first.momentum, [{ update: decodeUpdate(u[2]!.bytes, sizes), tokens: 300 }], step2);
    v2 = buildManifest(MODEL, cfg, 2, second.weights).digest;
    dir = mkdtempSync(join(tmpdir(), 'ailo-round-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the same version bytes in a second process, and another digest when one update value changes', () => {
    u.forEach((x, i) => writeFileSync(join(dir, `u${i}`), x.bytes));
    const at = (p: string): string => pathToFileURL(resolve(p)).href;
    writeFileSync(
      join(dir, 'probe.mts'),
      `import { readFileSync } from 'node:fs';
import { decodeUpdate } from '${at('trainer/codec/update-codec.ts')}';
import { applyRound } from '${at('trainer/federated/outer-optimizer.ts')}';
import { numel, paramSpecs, presetConfig } from '${at('trainer/model/config.ts')}';
import { initWeights } from '${at('trainer/model/weights.ts')}';
import { buildManifest, GENESIS_INIT_SEED } from '${at('node/federation/model-store.ts')}';
const cfg = presetConfig('${MODEL}');
const sizes = new Map(paramSpecs(cfg).map((s) => [s.name, numel(s.shape)]));
const read = (i: number) => decodeUpdate(new Uint8Array(readFileSync('${dir}/u' + i)), sizes);
const first = applyRound(initWeights(cfg, GENESIS_INIT_SEED), undefined, [{ update: read(0), tokens: 200 }, { update: read(1), tokens: 201 }], { outerLrPpm: 900000, momentumRestart: false });
console.log(buildManifest('${MODEL}', cfg, 1, first.weights).digest);
`,
    );
    const other = execFileSync(process.execPath, ['--import', 'tsx', join(dir, 'probe.mts')], { encoding: 'utf8' }).trim();
    expect(other).toBe(v1);

    const changed = decodeUpdate(u[1]!.bytes, sizes);
    const t = changed.find((x) => x.values.length > 0)!;
    t.values[0] = t.values[0]! + 1e-4;
    const genesis = initWeights(cfg, GENESIS_INIT_SEED);
    const w = applyRound(
      genesis,
      undefined,
      [
        { update: decodeUpdate(u[0]!.bytes, sizes), tokens: 200 },
        { update: changed, tokens: 201 },
      ],
      step1,
    );
    expect(buildManifest(MODEL, cfg, 1, w.weights).digest).not.toBe(v1);
    // The recorded step is part of the inputs: the same updates at another lr give another version.
    const w2 = applyRound(
      genesis,
      undefined,
      [0, 1].map((i) => ({ update: decodeUpdate(u[i]!.bytes, sizes), tokens: 200 + i })),
      step2,
    );
    expect(buildManifest(MODEL, cfg, 1, w2.weights).digest).not.toBe(v1);
  }, 60_000);

  function history(o: { v2Digest?: Hash; v2Contributions?: Hash[] } = {}): ModelHistory {
    const h = new ModelHistory();
    [200, 201, 300].forEach((length, i) => h.contributions.set(hex(i + 1), contribution(u[i]!.digest, length)));
    h.versions.push(modelVersion(1, [hex(1), hex(2)], v1, step1));
    h.versions.push(modelVersion(2, o.v2Contributions ?? [hex(3)], o.v2Digest ?? v2, step2));
    return h;
  }
  const fetchFrom =
    (m: Map<string, Uint8Array>) =>
    async (d: Hex): Promise<Uint8Array> => {
      const b = m.get(d);
      if (!b) throw new Error(`no update ${d}`);
      return b;
    };

  it('auditModels recomputes a true history from the genesis weights', async () => {
    const seen: number[] = [];
    expect(await auditModels(spec, history(), fetchFrom(served), (v) => seen.push(v))).toEqual({ checked: 2, versions: 2 });
    expect(seen).toEqual([1, 2]);
  });

  it('names the first version whose recorded digest, served update or contribution list is wrong', async () => {
    const wrongDigest = await auditModels(spec, history({ v2Digest: hex(99) }), fetchFrom(served));
    expect(wrongDigest.checked).toBe(1);
    expect(wrongDigest.mismatch?.version).toBe(2);
    expect(wrongDigest.mismatch?.why).toMatch(/its manifest digest is 0x[0-9a-f]{64}, not the recorded 0x0+63/);

    const tampered = new Map(served);
    const bytes = Uint8Array.from(u[0]!.bytes);
    bytes[bytes.length - 1]! ^= 1;
    tampered.set(u[0]!.digest, bytes);
    // Bytes that are not the recorded digest's are the source's fault: the version is left unjudged, not called forged.
    const badUpdate = auditModels(spec, history(), fetchFrom(tampered));
    await expect(badUpdate).rejects.toBeInstanceOf(UpdateSourceError);
    await expect(badUpdate).rejects.toThrow(
      /^version 1 not checked: the update of contribution 0x0+1 was served with sha256 0x[0-9a-f]{64}, not the recorded 0x[0-9a-f]{64} \(the source's copy is damaged or forged\)$/,
    );

    // A version that leaves out an update it was computed with (or lists another) does not recompute to its digest.
    const dropped = await auditModels(spec, history({ v2Contributions: [hex(3), hex(1)] }), fetchFrom(served));
    expect(dropped.mismatch?.version).toBe(2);
    const unknown = await auditModels(spec, history({ v2Contributions: [hex(7)] }), fetchFrom(served));
    expect(unknown.mismatch).toEqual({ version: 2, why: `contribution ${hex(7)} is not on the chain before it` });
  });

  it("checks version 0 against a genesis that names its model's digest", async () => {
    const genesis = buildManifest(MODEL, cfg, 0, initWeights(cfg, GENESIS_INIT_SEED)).digest;
    expect((await auditModels({ ...spec, genesisModelDigest: genesis }, history(), fetchFrom(served))).checked).toBe(2);
    const other = await auditModels({ ...spec, genesisModelDigest: hex(5) }, history(), fetchFrom(served));
    expect(other).toMatchObject({
      checked: 0,
      mismatch: { version: 0, why: `the genesis weights (seed 1) give ${genesis}, not the genesis's ${hex(5)}` },
    });
  });
});
