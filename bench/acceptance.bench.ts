// Proof of contribution's error rates (issue 11), measured offline with the coordinator's own QualityMeter and judge:
// how often honest updates are accepted, and fakes paid, over several model versions of ailo-tiny. Each version gets
// its pools and two reference tasks as the coordinator prepares them; each submission is scored against the reference
// whose rows overlap its own least. Versions advance by the mean of two honest updates (a round of two).
// Tasks are the devnet's (4 rows x 32 tokens x 12 steps). ACCEPTANCE_VERSIONS (default 6), ACCEPTANCE_HONEST (honest
// tasks a version, default 10), ACCEPTANCE_DETAIL=1 for each submission's measurement. Issue 11 asks for at most 5% of honest updates refused and at most 1% of noise paid.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_FEDERATION, taskLearningRate } from '../node/federation/service.js';
import {
  applyUpdate,
  judge,
  QualityMeter,
  sampleIndices,
  sharedTokens,
  type ControlModel,
  type PoolRow,
  type QualityMeasurement,
  type TokenRange,
} from '../node/federation/quality.js';
import { mixHeldOut, noiseUpdate, seededRng, type AttackTask } from '../node/federation/redteam/attacks.js';
import { DEFAULT_REWARDS } from '../genesis/devnet.js';
import { decodeUpdate, type ModelUpdate } from '../trainer/codec/update-codec.js';
import { defaultCorpusShards } from '../trainer/corpus/default-corpus.js';
import { listBatchAddresses } from '../trainer/corpus/shards.js';
import { trainLocally } from '../trainer/federated/local-training.js';
import { compressTaskUpdate } from '../trainer/federated/task-update.js';
import { numel, paramSpecs, presetConfig } from '../trainer/model/config.js';
import { initWeights } from '../trainer/model/weights.js';
import { GENESIS_INIT_SEED } from '../node/federation/model-store.js';

type Kind = 'honest' | 'half steps' | '2x steps' | 'overtrained' | 'other text' | 'held-out mix' | 'held-out 1/4' | 'noise 1e-3';

export async function run(): Promise<void> {
  const cache = await mkdtemp(join(tmpdir(), 'ailo-acceptance-bench-'));
  try {
    const cfg = presetConfig('ailo-tiny');
    const fed = DEFAULT_FEDERATION;
    const versions = Number(process.env.ACCEPTANCE_VERSIONS ?? 6);
    const honestPerVersion = Number(process.env.ACCEPTANCE_HONEST ?? 10);
    const { batchSize: B, seqLen: T, steps, density } = fed;
    const score = {
      ...fed.score,
      ...(process.env.ACCEPTANCE_HELD_OUT_ROWS ? { heldOutRows: Number(process.env.ACCEPTANCE_HELD_OUT_ROWS) } : {}),
    };
    const width = T + 1;
    const shards = await defaultCorpusShards(cache);
    const sizes = new Map(paramSpecs(cfg).map((s) => [s.name, numel(s.shape)]));
    const windows = listBatchAddresses(shards.manifest, 'train', steps * B, T, width);
    const rowOf = (a: { shard: string; offset: number }): PoolRow => ({
      shard: a.shard,
      offset: a.offset,
      ids: Array.from(shards.readTokens(a.shard, a.offset, width)),
    });
    const rowAddresses = (split: 'train' | 'eval') => listBatchAddresses(shards.manifest, split, 1, T, Math.ceil(width / 2));
    const trainRows = rowAddresses('train');
    const evalRows = rowAddresses('eval');
    const draw = (from: typeof trainRows, n: number): PoolRow[] => sampleIndices(from.length, n).map((i) => rowOf(from[i]!));
    const rangeOf = (a: (typeof windows)[number]): TokenRange => ({ shard: a.shard, offset: a.offset, length: steps * B * width });
    const tokensOf = (a: (typeof windows)[number]): Uint16Array => shards.readTokens(a.shard, a.offset, steps * B * width);
    const rowsOf = (t: Uint16Array): number[][] =>
      Array.from({ length: t.length / width }, (_, r) => Array.from(t.subarray(r * width, (r + 1) * width)));
    const meter = new QualityMeter(cfg, 'cpu', score);
    const rng = seededRng(Number(process.env.ACCEPTANCE_SEED ?? 1));
    const evalTokens = Uint16Array.from(evalRows.filter((_, i) => i % 2 === 0).flatMap((a) => rowOf(a).ids));
    let base = initWeights(cfg, GENESIS_INIT_SEED);
    const results: { kind: Kind; version: number; m: QualityMeasurement; refGain: number }[] = [];
    console.log(
      `ailo-tiny, task ${steps} steps x ${B}x${T}, rows scored: ${score.taskRows} task, ${score.unassignedRows} unassigned (of ${trainRows.length}), ${score.heldOutRows} held-out (of ${evalRows.length}); ${versions} versions, ${honestPerVersion} honest tasks and one of each fake a version`,
    );

    for (let v = 0; v < versions; v++) {
      const lr = taskLearningRate(fed.lr, v);
      const task: AttackTask = { steps, batchSize: B, seqLen: T, lr, density, maxAbs: 3 * lr * steps } as AttackTask;
      const train = async (tokens: Uint16Array, s = steps, rate = lr): Promise<ModelUpdate> => {
        const r = await trainLocally(cfg, 'cpu', base, tokens, { steps: s, batchSize: B, seqLen: T, lr: rate });
        return decodeUpdate(compressTaskUpdate(cfg, r!.update, { density, maxAbs: task.maxAbs }).bytes, sizes);
      };
      const pool = await meter.pool(base, draw(trainRows, 4 * score.unassignedRows), draw(evalRows, 4 * score.heldOutRows));
      // As the coordinator picks them: a random window, then the one sharing the fewest tokens with it.
      const first = windows[Math.floor(rng() * windows.length)]!;
      const second = windows.reduce((x, y) =>
        sharedTokens(rangeOf(y), rangeOf(first)) < sharedTokens(rangeOf(x), rangeOf(first)) ? y : x,
      );
      const refs = [first, second];
      const controls: ControlModel[] = [];
      const refUpdates: ModelUpdate[] = [];
      for (const a of refs) refUpdates.push(await train(tokensOf(a)));
      for (let i = 0; i < 2; i++) controls.push(await meter.control(base, pool, refUpdates[i]!, rangeOf(refs[i]!)));
      const refGains: number[] = [];
      for (let i = 0; i < 2; i++)
        refGains.push(
          (await meter.measure(base, pool, refUpdates[i]!, rowsOf(tokensOf(refs[i]!)), rangeOf(refs[i]!), controls[1 - i]!)).specificGain,
        );
      const refGain = (refGains[0]! + refGains[1]!) / 2;
      const scoreOn = async (kind: Kind, update: ModelUpdate, a: (typeof windows)[number]): Promise<void> => {
        const range = rangeOf(a);
        const control = controls.reduce((x, y) => (sharedTokens(y.range, range) < sharedTokens(x.range, range) ? y : x));
        results.push({ kind, version: v, refGain, m: await meter.measure(base, pool, update, rowsOf(tokensOf(a)), range, control) });
      };
      const honest: ModelUpdate[] = [];
      for (let h = 0; h < honestPerVersion; h++) {
        const a = windows[Math.floor(rng() * windows.length)]!;
        const u = await train(tokensOf(a));
        honest.push(u);
        await scoreOn('honest', u, a);
      }
      const a = windows[Math.floor(rng() * windows.length)]!;
      let other = a;
      while (sharedTokens(rangeOf(other), rangeOf(a)) > 0) other = windows[Math.floor(rng() * windows.length)]!;
      await scoreOn('half steps', await train(tokensOf(a).subarray(0, (steps / 2) * B * width), steps / 2), a);
      await scoreOn('other text', await train(tokensOf(other)), a);
      // Trained longer or harder than asked, on the task's own rows (cycled): the red team's worsening attacker.
      const own = tokensOf(a);
      const cycled = (k: number): Uint16Array => Uint16Array.from({ length: k * own.length }, (_, i) => own[i % own.length]!);
      await scoreOn('2x steps', await train(cycled(2), 2 * steps), a);
      await scoreOn('overtrained', await train(cycled(4), 4 * steps, 10 * lr), a);
      for (let k = 0; k < 3; k++) {
        const b = windows[Math.floor(rng() * windows.length)]!;
        const from = evalTokens.subarray(k * 16 * width);
        await scoreOn('held-out mix', await train(mixHeldOut(tokensOf(b), from, task, 0.5)), b);
        await scoreOn('held-out 1/4', await train(mixHeldOut(tokensOf(b), from, task, 0.25)), b);
      }
      await scoreOn('noise 1e-3', decodeUpdate(noiseUpdate(cfg, task, 1e-3, rng), sizes), a);
      const held = await meter.rowLosses(
        base,
        pool.heldOut.slice(0, 64).map((r) => r.ids),
      );
      console.log(
        `version ${v}: held-out loss ${(held.reduce((s, x) => s + x, 0) / held.length).toFixed(3)}, reference gain ${refGain.toFixed(3)} (${refGains.map((g) => g.toFixed(3)).join(', ')})`,
      );
      // The next version: FedAvg of two honest updates.
      const [x, y] = honest.slice(0, 2).map((u) => applyUpdate(base, u));
      base = new Map([...x!].map(([name, w]) => [name, w.map((value, i) => (value + y!.get(name)![i]!) / 2)]));
    }
    await meter.dispose();

    const kinds: Kind[] = ['honest', 'half steps', '2x steps', 'overtrained', 'other text', 'held-out mix', 'held-out 1/4', 'noise 1e-3'];
    const fs = (x: number): string => x.toFixed(3);
    for (const r of process.env.ACCEPTANCE_DETAIL ? results : []) {
      const m = r.m;
      const lead = m.heldOutLead.mean - Math.max(0, m.unassignedLead.mean);
      console.log(
        `  v${r.version} ${r.kind.padEnd(13)} ${judge(r.m, { gain: r.refGain }, score, DEFAULT_REWARDS).accepted ? 'PAID' : 'no  '} held-out lead ${fs(lead)} = ${fs(lead / m.specificGain)} of specific, t ${fs(m.heldOutLeadTest.t)} | ref ${fs(r.refGain)} task ${fs(m.task.mean)} lead: task ${fs(m.taskLead.mean)} (sd ${fs(m.taskLead.sd)}, n ${m.taskLead.n}) un ${fs(m.unassignedLead.mean)} (sd ${fs(m.unassignedLead.sd)}, n ${m.unassignedLead.n}) held ${fs(m.heldOutLead.mean)} (sd ${fs(m.heldOutLead.sd)}) heldGain ${fs(m.heldOut.mean)}`,
      );
    }
    for (const kind of kinds) {
      const rs = results.filter((r) => r.kind === kind);
      const codes = new Map<string, number>();
      let paid = 0;
      for (const r of rs) {
        const verdict = judge(r.m, { gain: r.refGain }, score, DEFAULT_REWARDS);
        const code = verdict.accepted ? 'ACCEPTED' : verdict.code;
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (verdict.accepted) paid += verdict.quality / 1000;
      }
      const accepted = codes.get('ACCEPTED') ?? 0;
      const ratios = rs.map((r) => judge(r.m, { gain: r.refGain }, score, DEFAULT_REWARDS).workRatio).sort((x, y) => x - y);
      console.log(
        `${kind.padEnd(13)} work ratio ${ratios[0]!.toFixed(2)}-${ratios.at(-1)!.toFixed(2)}; ${String(rs.length).padStart(3)} scored, ${((100 * accepted) / rs.length).toFixed(1)}% accepted: ${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}; mean quality paid ${(paid / rs.length).toFixed(2)}x`,
      );
    }
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
}
