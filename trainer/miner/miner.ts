/**
 * The native miner: the one miner loop (`miner-loop.ts`) with onnxruntime-node sessions on the chosen provider and
 * the weight chunks in a folder on disk.
 */
import { freemem } from 'node:os';
import { patientFetch } from './patient-fetch.js';
import { type ModelConfig } from '../model/config.js';
import { settingsFor } from '../model/memory-plan.js';
import type { Precision } from '../onnx/graphs.js';
import { compressOffThread } from '../federated/compress-off-thread.js';
import { collectGarbage } from '../runtime/collect-garbage.js';
import { nodeRuntime } from '../runtime/model-session.js';
import type { Provider } from '../runtime/provider.js';
import { TrainSession } from '../runtime/train-session.js';
import { ChunkCache } from './chunk-cache.js';
import { readGpuHealth } from './gpu-health.js';
import { MinerLoop, type MinerOptions, type MinerPlatform } from './miner-loop.js';
import type { MinerDevice } from './status.js';

export { deviceName, sameDevice, type MinerSummary } from './miner-loop.js';

/** The platform parts of a native miner: chunks cached in `cacheDir`, sessions of onnxruntime-node. */
function nativePlatform(cacheDir: string, log: (line: string) => void, memoryBytes?: number, precision?: Precision): MinerPlatform {
  return {
    chunks: new ChunkCache(cacheDir),
    // While the node verifies the update the miner holds only the model, not the training's dead arrays.
    afterTraining: collectGarbage,
    compress: compressOffThread,
    openSession: (cfg, shape, device) => {
      if (!device || device.provider === 'wasm')
        throw new RangeError(`the native miner trains on cpu, webgpu or cuda, not ${device?.provider ?? 'an unnamed device'}`);
      // Mixed precision is a cuda setting (settingsFor says why): elsewhere (a device chosen in the GUI) it trains in fp32.
      const p = device.provider === 'cuda' ? precision : 'fp32';
      const { settings, why } = settingsFor(cfg, shape, device.provider, memoryBytes ?? freemem(), undefined, p);
      log(`training ${why}`);
      return TrainSession.open(nodeRuntime(device.provider, { deviceId: device.deviceId }), cfg, {
        batch: shape.batchSize,
        seq: shape.seqLen,
        layerwise: settings.layout === 'layerwise',
        moments: settings.moments,
        precision: settings.precision,
      });
    },
  };
}

interface NativeMinerOptions extends Omit<MinerOptions, 'platform' | 'device'> {
  provider: Provider;
  /** The CUDA device index (cuda only; the provider's default device when absent). */
  deviceId?: number;
  /** The weight chunk cache's folder. */
  cacheDir: string;
  /** Memory the miner may use, bytes (default: what the OS reports available when a session opens). */
  memoryBytes?: number;
  /** fp16: mixed precision on a GPU provider (float16 products, float32 weights, dynamic loss scaling); default fp32. */
  precision?: Precision;
}

export class Miner extends MinerLoop {
  constructor(o: NativeMinerOptions) {
    let device = (): MinerDevice => ({ provider: o.provider, deviceId: o.deviceId });
    super({
      submitFetch: patientFetch(),
      ...o,
      platform: nativePlatform(o.cacheDir, (line) => o.log?.(line), o.memoryBytes, o.precision),
      device: { provider: o.provider, deviceId: o.deviceId },
      // An NVIDIA GPU's temperature, power and memory (nvidia-smi), read for the device in force.
      gpuHealth: () => {
        const d = device();
        return d.provider === 'cpu' || d.provider === 'wasm' ? Promise.resolve(undefined) : readGpuHealth(d.deviceId ?? 0);
      },
    });
    device = () => this.settings.device;
  }

  /** The settings in force; a native miner always names its device. */
  override get settings(): { power: number; device: MinerDevice } {
    const s = super.settings;
    return { power: s.power, device: s.device! };
  }
}
