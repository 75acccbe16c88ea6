/**
 * <ailo-serve-panel>: "Serve this model from this browser". A toggle that joins the model's inference room from a
 * Web Worker (onnxruntime-web, the weights of its span from IndexedDB), with how many layers to hold and on which
 * device; then what it does: connecting, waiting as a standby, loading layers a..b, serving (forward passes
 * answered), or why the node removed it. The join is signed here with the account's key (after a reload, the
 * password unlocks it first).
 */
import { LitElement, css, html, type TemplateResult } from 'lit';
import type { AccountSession } from '../account/account-session.js';
import { networkDomainOf } from '../api/network.js';
import type { BackendChoice } from '../browser-miner/protocol.js';
import { accountJoinSigner } from '../chat/join-signer.js';
import { roomController, type ServeState } from '../chat/room-controller.js';
import { formatAlc } from '../../../protocol/amount.js';
import type { InferenceModel } from '../../../protocol/inference.js';
import { unlockFromForm } from './events.js';
import { baseStyles } from './shared-styles.js';

/** What one layer of a GPT-2 block holds, about: 12 C^2 weights (attention and a 4C MLP) and 13 C biases and norms, float32. */
export function layerBytes(nEmbd: number): number {
  return 4 * (12 * nEmbd * nEmbd + 13 * nEmbd);
}

/** The default span: every layer, up to about 1 GiB of weights (a tab's fair share of a laptop's memory). */
export function defaultMaxLayers(model: Pick<InferenceModel, 'layers' | 'nEmbd'>): number {
  return Math.max(1, Math.min(model.layers, Math.floor(1024 ** 3 / layerBytes(model.nEmbd))));
}

const mib = (bytes: number): string => `${Math.max(1, Math.round(bytes / 1024 ** 2))} MiB`;
const layersText = (s: { start: number; end: number }): string =>
  s.end - s.start === 1 ? `layer ${s.start}` : `layers ${s.start}–${s.end - 1}`;

export class AiloServePanel extends LitElement {
  static override properties = {
    session: { attribute: false },
    chainId: { attribute: false },
    genesisHash: { attribute: false },
    model: { attribute: false },
    share: { attribute: false },
    state: { state: true },
    maxLayers: { state: true },
    unlocking: { state: true },
    busy: { state: true },
    startProblem: { state: true },
  };

  declare session: AccountSession;
  declare chainId: string | undefined;
  declare genesisHash: string | undefined;
  declare model: InferenceModel | undefined;
  /** The genesis `inferenceShare` in base units, once read. */
  declare share: bigint | undefined;
  declare state: ServeState;
  /** The user's choice; undefined: the default for the model. */
  declare maxLayers: number | undefined;
  declare unlocking: boolean;
  declare busy: boolean;
  declare startProblem: string | undefined;

  private readonly onChange = (): void => {
    this.state = roomController.state;
  };

  constructor() {
    super();
    this.state = roomController.state;
    this.unlocking = false;
    this.busy = false;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    roomController.addEventListener('change', this.onChange);
    this.onChange();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    roomController.removeEventListener('change', this.onChange);
  }

  private layers(model: InferenceModel): number {
    return Math.min(model.layers, this.maxLayers ?? this.state.maxLayers ?? defaultMaxLayers(model));
  }

  private start(): void {
    this.startProblem = undefined;
    const model = this.model;
    const network = networkDomainOf(this.chainId, this.genesisHash);
    if (!model || !network) {
      this.startProblem = 'Waiting for the node to tell which network and model it runs; try again in a moment.';
      return;
    }
    if (!this.session.unlocked) {
      this.unlocking = true;
      return;
    }
    const session = this.session;
    roomController.start(
      model.id,
      this.layers(model),
      accountJoinSigner(() => session.signingKey(), network),
    );
  }

  private async unlockAndStart(e: SubmitEvent): Promise<void> {
    this.busy = true;
    this.startProblem = undefined;
    this.startProblem = await unlockFromForm(this.session, e);
    this.busy = false;
    if (this.startProblem) return;
    this.unlocking = false;
    this.start();
  }

  static override styles = [
    baseStyles,
    css`
    .controls { display: flex; flex-wrap: wrap; gap: 1rem; align-items: end; margin: 0.75rem 0; }
    .controls label { font-weight: 500; }
    .controls input { width: 6rem; }
    .controls select { width: auto; }
    .status { font-weight: 600; }
    .status.serving { color: var(--success); }
    .status.removed { color: var(--danger); }
    details { margin-top: 0.75rem; }
    pre { max-height: 12rem; overflow: auto; font-size: 0.8rem; background: var(--accent-soft); padding: 0.5rem; border-radius: 8px; white-space: pre-wrap; }
  `,
  ];

  /** One sentence on what the contributor does now, and its tone. */
  private status(): { text: string; tone: '' | 'serving' | 'removed' } {
    const st = this.state;
    const c = st.contributor;
    // The layer count of the model being served (the page may show another model meanwhile).
    const of = this.model && this.model.id === st.model ? ` of ${this.model.layers}` : '';
    if (c?.closing && c.phase === 'closed')
      return {
        text:
          `Removed by the node (${c.closing.code}): ${c.closing.message}. ${c.served} forward passes answered before.` +
          (c.closing.code === 'WRONG_OUTPUT' ? ' The rewards held for it until its next check are forfeited.' : ''),
        tone: 'removed',
      };
    if (st.phase === 'failed') return { text: `Not serving: ${st.problem ?? 'the worker failed'}.`, tone: 'removed' };
    if (st.phase === 'idle') {
      if (!c) return { text: 'Not serving.', tone: '' };
      return {
        text: st.stopped
          ? `Stopped. ${c.served} forward passes answered.`
          : `The room channel closed (the node may have restarted). ${c.served} forward passes answered.`,
        tone: '',
      };
    }
    if (!st.joined || !c) return { text: 'Connecting to the room…', tone: '' };
    const version = c.version === undefined ? '' : ` of model v${c.version}`;
    switch (c.phase) {
      case 'connecting':
      case 'waiting':
        return {
          text: 'In the room as a standby: every layer is held now; this browser takes the first span a contributor frees.',
          tone: '',
        };
      case 'loading':
        return { text: `Loading ${layersText(c.span!)}${of}${version} (downloading only their weights)…`, tone: '' };
      case 'serving':
        return { text: `Serving ${layersText(c.span!)}${of}${version}.`, tone: 'serving' };
      default:
        return { text: 'The room channel closed.', tone: '' };
    }
  }

  private unlockForm(): TemplateResult {
    return html`<form class="stack" @submit=${this.unlockAndStart} data-testid="serve-unlock">
      <p class="notice info">Serving signs your join to the room with your wallet key, in this browser, so that the rewards go to you.
        Your session survived a page reload, but the key did not: enter your password to unlock it.</p>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <div class="actions">
        <button type="submit" ?disabled=${this.busy}>${this.busy ? 'Unlocking…' : 'Unlock and serve'}</button>
        <button type="button" class="secondary" ?disabled=${this.busy} @click=${() => {
          this.unlocking = false;
          this.startProblem = undefined;
        }}>Cancel</button>
      </div>
    </form>`;
  }

  override render(): TemplateResult {
    const st = this.state;
    const model = this.model;
    const running = st.phase === 'running';
    const status = this.status();
    const reward = this.share !== undefined ? `${formatAlc(this.share)} ALC` : "the network's inference share";
    const layers = model ? this.layers(model) : 1;
    return html`<section class="card" aria-labelledby="serve-title" data-testid="serve">
      <h2 id="serve-title">Serve this model from this browser</h2>
      <p class="muted">Hold a span of the model's layers in this tab and answer other people's chat requests with it. The node
        checks samples of what you return by recomputing them. Each request your span helps serve earns <strong data-testid="serve-reward">${reward}</strong>,
        paid on the ledger once the node's checks allow it; a wrong answer forfeits what is held and removes you from the room.
        Serving your own account's requests earns nothing.</p>
      <div class="controls">
        <label>Layers to hold
          <input type="number" data-testid="serve-layers" min="1" max=${model?.layers ?? 1} step="1" .value=${String(layers)} ?disabled=${running || !model}
            @input=${(e: Event) => {
              const v = Math.round(Number((e.target as HTMLInputElement).value));
              this.maxLayers = Number.isFinite(v) && v >= 1 ? v : undefined;
            }} />
          ${model ? html`<span class="hint">about ${mib(layers * layerBytes(model.nEmbd))} of weights</span>` : ''}</label>
        <label>Device
          <select data-testid="serve-backend" .value=${st.backend} ?disabled=${running}
            @change=${(e: Event) => roomController.setBackend((e.target as HTMLSelectElement).value as BackendChoice)}>
            <option value="auto">Automatic (WebGPU, else WASM)</option>
            <option value="webgpu">WebGPU</option>
            <option value="wasm">WASM (CPU)</option>
          </select></label>
        <button data-testid="serve-toggle" aria-pressed=${running ? 'true' : 'false'} class=${running ? 'danger' : ''}
          ?disabled=${(!running && !model) || this.unlocking} @click=${() => (running ? roomController.stop() : this.start())}>
          ${running ? 'Stop serving' : 'Serve this model'}</button>
      </div>
      ${this.unlocking && !running ? this.unlockForm() : ''}
      ${this.startProblem ? html`<p class="notice error" role="alert">${this.startProblem}</p>` : ''}
      <p role="status" class="status ${status.tone}" data-testid="serve-status">${status.text}</p>
      ${st.device ? html`<p class="muted" data-testid="serve-device">Running on ${st.device.description}.</p>` : ''}
      ${st.contributor ? html`<p class="muted">Forward passes answered: <strong data-testid="serve-served">${st.contributor.served}</strong></p>` : ''}
      ${st.log.length ? html`<details><summary>Log (${st.log.length} lines)</summary><pre data-testid="serve-log">${st.log.join('\n')}</pre></details>` : ''}
    </section>`;
  }
}

customElements.define('ailo-serve-panel', AiloServePanel);
