// Moving parameter tensors between the host and the provider's device. On `webgpu` an Identity session with
// gpu-buffer (or cpu) outputs does the copy, so nothing ever calls getData() on a gpu-buffer tensor (that
// aborts the process in onnxruntime-node).
import type { ParamSpec } from '../model/config.js';
import { GraphBuilder } from '../onnx/builder.js';
import { keepsStateOnDevice, type Provider } from './provider.js';
import { createSession, ort } from './session.js';
import type { ParamTransfer, TensorMap } from './train-session.js';

function copyGraph(specs: readonly { name: string; shape: number[] }[]): Uint8Array {
  const g = new GraphBuilder('ailo_copy');
  for (const s of specs) g.input(`in.${s.name}`, 'float32', s.shape);
  for (const s of specs) g.output(`in.${s.name}`, `out.${s.name}`, 'float32', s.shape);
  return g.toBytes();
}

export class DeviceTransfer implements ParamTransfer {
  private upSession?: ort.InferenceSession;
  private downSession?: ort.InferenceSession;
  private readonly onDevice: boolean;

  constructor(
    readonly provider: Provider,
    private readonly specs: readonly ParamSpec[] | readonly { name: string; shape: number[] }[],
  ) {
    this.onDevice = keepsStateOnDevice(provider);
  }

  /** Host arrays to tensors the provider's sessions take (device-resident on webgpu). */
  async upload(values: Map<string, Float32Array>): Promise<TensorMap> {
    const host = new Map(this.specs.map((s) => [s.name, new ort.Tensor('float32', values.get(s.name)!, s.shape)]));
    if (!this.onDevice) return host;
    this.upSession ??= await createSession(copyGraph(this.specs), this.provider, { deviceOutputs: this.specs.map((s) => `out.${s.name}`) });
    const out = await this.upSession.run(Object.fromEntries(this.specs.map((s) => [`in.${s.name}`, host.get(s.name)!])));
    return new Map(this.specs.map((s) => [s.name, out[`out.${s.name}`]!]));
  }

  /** Tensors (on the device or not) back to host arrays. */
  async download(tensors: TensorMap): Promise<Map<string, Float32Array>> {
    if (!this.onDevice || this.specs.every((s) => tensors.get(s.name)!.location === 'cpu')) {
      return new Map(this.specs.map((s) => [s.name, tensors.get(s.name)!.data as Float32Array]));
    }
    this.downSession ??= await createSession(copyGraph(this.specs), this.provider);
    const out = await this.downSession.run(Object.fromEntries(this.specs.map((s) => [`in.${s.name}`, tensors.get(s.name)!])));
    return new Map(this.specs.map((s) => [s.name, out[`out.${s.name}`]!.data as Float32Array]));
  }

  async dispose(): Promise<void> {
    await this.upSession?.release();
    await this.downSession?.release();
  }
}
