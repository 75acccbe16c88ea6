import { describe, expect, it } from 'vitest';
import { presetConfig } from '../../../trainer/model/config.js';
import { memoryNeed, planDevice } from './device-check.js';

const tiny = presetConfig('ailo-tiny');
const shape = { batchSize: 4, seqLen: 32 };
const GiB = 1024 ** 3;
const adapter = (binding: number) => ({
  requestAdapter: async () => ({
    limits: { maxStorageBufferBindingSize: binding, maxBufferSize: binding },
    info: { vendor: 'acme', architecture: 'gpu9' },
  }),
});

describe('planDevice', () => {
  it('takes WebGPU when the adapter binds the largest buffer, and names the adapter', async () => {
    const plan = await planDevice(tiny, shape, 'auto', { gpu: adapter(GiB), deviceMemory: 8 });
    expect(plan).toMatchObject({ ok: true, backend: 'webgpu' });
    expect(plan.ok && plan.description).toMatch(/acme gpu9/);
  });

  it('falls back to WASM, saying why, when WebGPU is missing or too small; refuses when WebGPU was required', async () => {
    const small = memoryNeed(tiny, shape).largestBufferBytes - 1;
    const none = await planDevice(tiny, shape, 'auto', {});
    expect(none).toMatchObject({ ok: true, backend: 'wasm' });
    expect(none.ok && none.description).toMatch(/no WebGPU/);
    const limited = await planDevice(tiny, shape, 'auto', { gpu: adapter(small) });
    expect(limited.ok && limited.description).toMatch(/binds at most/);
    const required = await planDevice(tiny, shape, 'webgpu', { gpu: adapter(small) });
    expect(required).toMatchObject({ ok: false });
    expect(!required.ok && required.reason).toMatch(/cannot mine with WebGPU.*Choose WASM/);
    expect(await planDevice(tiny, shape, 'wasm', { gpu: adapter(GiB) })).toMatchObject({ ok: true, backend: 'wasm' });
  });

  it('refuses plainly when the model does not fit the device or WebAssembly', async () => {
    const lowMemory = await planDevice(tiny, shape, 'auto', { gpu: adapter(GiB), deviceMemory: 0.25 });
    expect(!lowMemory.ok && lowMemory.reason).toMatch(/needs about \d+ MiB.*reports 0.25 GiB.*ailo-miner/);
    const big = await planDevice(presetConfig('ailo-1b'), { batchSize: 1, seqLen: 1024 }, 'wasm', {});
    expect(!big.ok && big.reason).toMatch(/more than WebAssembly can address/);
  });
});
