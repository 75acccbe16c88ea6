// Graph structure: the full ailo-1b graphs build without any weights, take exactly the model's parameters as
// inputs, and use only ops that every target provider (cpu, webgpu, cuda, wasm) runs.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { numel, paramSpecs, presetConfig } from '../model/config.js';
import { buildForwardGraph, buildOptimizerGraph, buildTrainingGraph, buildTrainingLoopGraph } from './graphs.js';

const PORTABLE_OPS = new Set([
  'Abs',
  'Add',
  'Clip',
  'Concat',
  'Div',
  'Exp',
  'Gather',
  'GatherElements',
  'Gemm',
  'Identity',
  'Log',
  'MatMul',
  'Mul',
  'Neg',
  'Pad',
  'Pow',
  'ReduceMax',
  'ReduceMean',
  'ReduceSum',
  'ReduceSumSquare',
  'Relu',
  'Reshape',
  'ScatterElements',
  'ScatterND',
  'Softmax',
  'Split',
  'Sqrt',
  'Sub',
  'Tanh',
  'Transpose',
]);

/**
 * What the Loop graph (a cuda miner's) adds: control flow, comparisons and the loss scaling's tests. Each has a kernel
 * in onnxruntime's CUDAExecutionProvider at opset 17 (its docs/OperatorKernels.md), so the loop runs on the device.
 */
const CUDA_LOOP_OPS = new Set([
  'And',
  'Cast',
  'Greater',
  'GreaterOrEqual',
  'IsInf',
  'IsNaN',
  'Less',
  'LessOrEqual',
  'Loop',
  'Min',
  'Not',
  'Or',
  'Shape',
  'Where',
]);

function paramInputCount(bytes: Uint8Array, names: Set<string>): number {
  const model = onnxProto.onnx.ModelProto.decode(bytes);
  let n = 0;
  for (const inp of model.graph!.input!) {
    if (!names.has(inp.name!)) continue;
    n += numel(inp.type!.tensorType!.shape!.dim!.map((d) => Number(d.dimValue)));
  }
  return n;
}

describe('ailo-1b graphs', () => {
  const cfg = presetConfig('ailo-1b');
  const names = new Set(paramSpecs(cfg).map((s) => s.name));

  it('the training graph (with fused AdamW) builds and its parameter inputs total 821,470,400', () => {
    const g = buildTrainingGraph(cfg, {
      batch: 1,
      seq: 1024,
      optimizer: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clipNorm: 1 },
    });
    expect(paramInputCount(g.bytes, names)).toBe(821_470_400);
    expect(g.outputs.filter((o) => o.startsWith('new.'))).toHaveLength(names.size);
    for (const op of g.opTypes) expect(PORTABLE_OPS, op).toContain(op);
  });

  it('the gradient graph outputs one gradient per parameter', () => {
    const g = buildTrainingGraph(cfg, { batch: 1, seq: 256 });
    expect(g.outputs.filter((o) => o.startsWith('grad.'))).toEqual([...names].map((n) => `grad.${n}`));
    for (const op of g.opTypes) expect(PORTABLE_OPS, op).toContain(op);
  });

  it('the forward and optimizer graphs build', () => {
    const f = buildForwardGraph(cfg, { logits: true, past: true });
    expect(paramInputCount(f.bytes, names)).toBe(821_470_400);
    expect(f.outputs).toContain('present.23.value');
    const o = buildOptimizerGraph(cfg);
    expect(o.outputs).toContain('grad_norm');
    for (const op of [...f.opTypes, ...o.opTypes]) expect(PORTABLE_OPS, op).toContain(op);
  });

  it.each(['fp32', 'fp16'] as const)(
    'the training loop graph (%s) builds: its state inputs are three copies of the 821,470,400 parameters',
    (precision) => {
      const g = buildTrainingLoopGraph(cfg, {
        batch: 1,
        seq: 1024,
        optimizer: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clipNorm: 1 },
        precision,
        lossScaling: { init: 2 ** 16, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000, min: 1 },
      });
      const state = new Set(g.inputs.filter((n) => /^start(_m|_v)?\./.test(n)));
      expect(paramInputCount(g.bytes, state)).toBe(3 * 821_470_400);
      expect(g.outputs.filter((o) => o.startsWith('final.'))).toEqual([...names].map((n) => `final.${n}`));
      const allowed = new Set([...PORTABLE_OPS, ...CUDA_LOOP_OPS]);
      for (const op of g.opTypes) expect(allowed.has(op), op).toBe(true);
      expect(g.opTypes).toContain('Loop');
    },
  );
});
