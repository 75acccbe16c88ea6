/**
 * A contributor to an inference room (protocol/inference.ts), for every platform: it joins the room of a model over a
 * WebSocket with a wallet-signed `InferenceJoin`, is assigned a span of layers, downloads only the chunks that hold
 * that span's tensors (checked against the signed manifest, cached by the platform's ChunkSource), opens a
 * SpanRunner, and then answers each `forward` frame with its span's output, keeping the KV cache per conversation.
 * Browser-safe: WebSocket and fetch are the platform's; the onnxruntime build comes in as a TrainingRuntime.
 */
import { NodeClient } from '../../protocol/client.js';
import {
  bytesPerServedLayer,
  decodeHiddenFrame,
  type InferenceModel,
  encodeHiddenFrame,
  type ContributorMessage,
  type HiddenHeader,
  type NodeMessage,
  type SignedJoinBody,
} from '../../protocol/inference.js';
import type { RoundStatus } from '../../protocol/ledger.js';
import { fetchCoordinators, fetchVerifiedManifest, placeChunk, type ModelManifest } from '../federated/model-manifest.js';
import type { ChunkSource } from '../miner/miner-loop.js';
import type { Weights } from '../model/weights.js';
import type { TrainingRuntime } from '../runtime/train-session.js';
import { SpanRunner, spanParamNames, type Span } from './span-runner.js';

export interface ContributorOptions {
  /** The coordinator node to serve through, e.g. http://127.0.0.1:8645 ('' in a page the node serves). */
  nodeUrl: string;
  /** The model id (GET /api/inference/models). */
  model: string;
  /** The most layers this contributor will hold. */
  maxLayers: number;
  /**
   * Memory it may use for the span (bytes): the layers it asks for are cut to what fits, by the model's
   * `bytesPerServedLayer` (GET /api/inference/models); start() refuses when not even one layer fits.
   */
  memoryBytes?: number;
  /** Signs a fresh InferenceJoin for `coordinator` (the address GET /api/round names). */
  signJoin: (coordinator: string) => Promise<SignedJoinBody>;
  runtime: TrainingRuntime;
  chunks: ChunkSource;
  /** The WebSocket class: the platform's (browsers), or the `ws` package's on Node versions without one. */
  webSocket?: typeof WebSocket;
  /** A short description sent with the join (browser, native, provider). */
  agent?: string;
  log?: (line: string) => void;
  onState?: (state: ContributorState) => void;
  /** The contributor could not load its span or answer a forward (it told the node, which frees its span). */
  onError?: (message: string) => void;
}

export interface ContributorState {
  /** waiting: joined, every layer is held by others (a standby, given the next span that frees up). */
  phase: 'connecting' | 'waiting' | 'loading' | 'serving' | 'closed';
  span?: Span;
  version?: number;
  /** Forward passes answered. */
  served: number;
  /** Why the node closed the channel, when it said. */
  closing?: { code: string; message: string };
}

export class RoomContributor {
  readonly state: ContributorState = { phase: 'connecting', served: 0 };
  private ws: WebSocket | undefined;
  private runner: SpanRunner | undefined;
  private queue: Promise<void> = Promise.resolve();
  private readonly client: NodeClient;
  private closedResolve!: () => void;
  /** Resolves when the channel closes (stopped, or closed by the node). */
  readonly closed = new Promise<void>((resolve) => (this.closedResolve = resolve));

  constructor(readonly o: ContributorOptions) {
    this.client = new NodeClient(o.nodeUrl);
  }

  private set(patch: Partial<ContributorState>): void {
    Object.assign(this.state, patch);
    this.o.onState?.({ ...this.state });
  }

  private log(line: string): void {
    this.o.log?.(line);
  }

  /** Connects and joins; resolves once the join is sent. Errors before that (no coordinator, no socket) throw. */
  async start(): Promise<void> {
    const round = await this.client.json<RoundStatus>('/api/round', {}, { what: 'round' });
    if (!round.coordinator) throw new Error(`${this.o.nodeUrl || 'this node'} is not a coordinator: it serves no inference room`);
    let maxLayers = this.o.maxLayers;
    if (this.o.memoryBytes !== undefined) {
      const { models } = await this.client.json<{ models: InferenceModel[] }>('/api/inference/models', {}, { what: 'models' });
      const model = models.find((m) => m.id === this.o.model);
      if (!model) throw new Error(`the node serves no model ${this.o.model}; it serves ${models.map((m) => m.id).join(', ')}`);
      const per = bytesPerServedLayer(model);
      const fit = Math.floor(this.o.memoryBytes / per);
      if (fit < 1)
        throw new Error(
          `one layer of ${model.id} needs ${(per / 2 ** 20).toFixed(0)} MiB (weights and KV caches), and ${(this.o.memoryBytes / 2 ** 20).toFixed(0)} MiB is available; free memory or serve a smaller model`,
        );
      maxLayers = Math.min(maxLayers, fit);
      this.log(
        `memory for ${fit} layer(s) of ${model.id} (${(per / 2 ** 20).toFixed(1)} MiB each): asking for ${Math.min(maxLayers, model.layers)}`,
      );
    }
    const join = await this.o.signJoin(round.coordinator);
    const base = this.o.nodeUrl || globalThis.location.origin;
    const Socket = this.o.webSocket ?? globalThis.WebSocket;
    const ws = new Socket(`${base.replace(/^http/, 'ws')}/api/inference/room`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`could not open the room channel at ${base}`));
    });
    ws.onerror = () => {};
    ws.onclose = () => {
      this.set({ phase: 'closed' });
      void this.runner?.dispose();
      this.runner = undefined;
      this.closedResolve();
    };
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data === 'string') this.onText(e.data);
      else this.onBinary(new Uint8Array(e.data as ArrayBuffer));
    };
    this.send({ type: 'join', model: this.o.model, maxLayers, join, agent: this.o.agent });
    this.set({ phase: 'waiting' });
  }

  /** Leaves the room (the node gives the span to another contributor). */
  stop(): void {
    this.ws?.close(1000, 'stopped');
  }

  private send(m: ContributorMessage): void {
    if (this.ws?.readyState === 1) this.ws.send(JSON.stringify(m)); // OPEN
  }

  private onText(text: string): void {
    let m: NodeMessage;
    try {
      m = JSON.parse(text) as NodeMessage;
    } catch {
      return;
    }
    if (m.type === 'assign') {
      this.queue = this.queue
        .then(() => this.load(m))
        .catch((err: Error) => {
          this.log(`could not load layers ${m.start}..${m.end - 1}: ${err.message}`);
          this.send({ type: 'error', message: err.message });
          this.o.onError?.(`could not load layers ${m.start}..${m.end - 1}: ${err.message}`);
        });
    } else if (m.type === 'drop') {
      this.runner?.drop(m.session);
    } else if (m.type === 'closing') {
      this.set({ closing: { code: m.code, message: m.message } });
      this.log(`the node closes the channel: ${m.code}: ${m.message}`);
    }
  }

  private onBinary(frame: Uint8Array): void {
    this.queue = this.queue
      .then(async () => {
        const runner = this.runner;
        if (!runner) return;
        const { header, values } = decodeHiddenFrame(frame, runner.cfg.n_embd, runner.cfg.n_positions);
        if (header.kind !== 'forward') return;
        const out = await this.compute(runner, header, values);
        this.ws?.send(encodeHiddenFrame({ ...header, kind: 'result' }, out));
        this.set({ served: this.state.served + 1 });
      })
      .catch((err: Error) => {
        this.log(`a forward failed: ${err.message}`);
        this.send({ type: 'error', message: err.message });
        this.o.onError?.(`a forward failed: ${err.message}`);
      });
  }

  /** The span's output for one forward frame (a subclass in the tests alters it, as a cheating contributor would). */
  protected compute(runner: SpanRunner, header: HiddenHeader, values: Float32Array): Promise<Float32Array> {
    return runner.forward(header.session, values, header.start);
  }

  /** Downloads the span's tensors (only the chunks that hold them) and opens its runner. */
  private async load(m: Extract<NodeMessage, { type: 'assign' }>): Promise<void> {
    const span = { start: m.start, end: m.end };
    this.set({ phase: 'loading', span, version: m.version });
    // The network's model at a version, or an imported checkpoint's manifest; either signed by a coordinator.
    const path = m.version === undefined ? `/api/inference/models/${encodeURIComponent(m.model)}/manifest` : '/api/model';
    const signed = await fetchVerifiedManifest(this.client, await fetchCoordinators(this.client), m.version, path);
    const manifest = signed.manifest;
    const names = spanParamNames(manifest.config, span);
    const weights = await spanWeights(manifest, names, this.o.chunks, this.client);
    await this.runner?.dispose();
    this.runner = await SpanRunner.open(this.o.runtime, manifest.config, span, weights);
    this.log(`serving layers ${span.start}..${span.end - 1} of ${m.model} v${m.version ?? '-'}`);
    this.set({ phase: 'serving' });
    this.send({ type: 'ready', assignment: m.assignment });
  }
}

/** The named tensors of a manifest, from only the chunks that hold them. */
export async function spanWeights(manifest: ModelManifest, names: string[], chunks: ChunkSource, client: NodeClient): Promise<Weights> {
  const wanted: ModelManifest = { ...manifest, tensorMap: Object.fromEntries(names.map((n) => [n, manifest.tensorMap[n]!])) };
  for (const n of names) if (!manifest.tensorMap[n]) throw new Error(`the manifest has no tensor ${n}`);
  const needed = manifest.chunks.filter((c) =>
    names.some((n) => {
      const t = manifest.tensorMap[n]!;
      return c.offset < t.offset + t.size && t.offset < c.offset + c.size;
    }),
  );
  const weights: Weights = new Map();
  for (const c of needed) placeChunk(wanted, weights, c, (await chunks.fetch(c, client)).bytes);
  return weights;
}
