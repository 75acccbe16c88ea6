/**
 * <ailo-miner-settings>: the GPU, training on the CPU instead, and the power limit. Each change goes to the running
 * miner at once: power from its next rest, the device from its next task; no restart.
 */
import { LitElement, css, html, type TemplateResult } from 'lit';
import { baseStyles } from '../components/shared-styles.js';
import { NodeError } from '../../../protocol/errors.js';
import { changeSettings } from './miner-api.js';
import type { MinerStateView, SettingsChange } from '../../../trainer/miner/status.js';

export class AiloMinerSettings extends LitElement {
  static override properties = {
    state: { attribute: false },
    power: { state: true },
    busy: { state: true },
    error: { state: true },
    saved: { state: true },
  };

  declare state: MinerStateView;
  /** The slider's value while it is dragged (sent when let go). */
  declare power: number | undefined;
  declare busy: boolean;
  declare error: string | undefined;
  declare saved: string | undefined;

  constructor() {
    super();
    this.busy = false;
  }

  static override styles = [
    baseStyles,
    css`
    form { max-width: 36rem; }
    .check { display: flex; gap: 0.6rem; align-items: center; font-weight: 500; }
    label.power { display: flex; gap: 0.5rem; align-items: baseline; }
    .check input { width: auto; }
    input[type='range'] { padding: 0; accent-color: var(--accent); }
    output { font-variant-numeric: tabular-nums; font-weight: 700; }
  `,
  ];

  private async apply(change: SettingsChange, what: string): Promise<void> {
    this.busy = true;
    this.error = undefined;
    this.saved = undefined;
    try {
      const state = await changeSettings(change);
      this.dispatchEvent(new CustomEvent('miner-state', { detail: state, bubbles: true, composed: true }));
      this.saved = what;
    } catch (err) {
      this.error = err instanceof NodeError ? err.message : String(err);
    } finally {
      this.busy = false;
      this.power = undefined;
    }
  }

  override render(): TemplateResult {
    const { settings, gpus, powerRange, status } = this.state;
    const power = this.power ?? settings.power;
    return html`<section class="card">
      <h1 tabindex="-1">Settings</h1>
      <p class="lead">Changes apply to the running miner: power at once, the device from the next task.</p>
      <form @submit=${(e: Event) => e.preventDefault()}>
        <label>GPU
          <select data-testid="gpu" ?disabled=${this.busy || gpus.length === 0}
            @change=${(e: Event) => void this.apply({ gpu: (e.target as HTMLSelectElement).value }, 'GPU')}>
            ${gpus.length === 0 ? html`<option>No GPU found: the miner trains on the CPU</option>` : ''}
            ${gpus.map((g) => html`<option value=${g.id} ?selected=${g.id === settings.gpu}>${g.label}</option>`)}
          </select>
        </label>
        <label class="check">
          <input type="checkbox" data-testid="use-cpu" .checked=${settings.useCpu} ?disabled=${this.busy || gpus.length === 0}
            @change=${(e: Event) => void this.apply({ useCpu: (e.target as HTMLInputElement).checked }, 'device')} />
          Train on the CPU (leaves the GPU free)
        </label>
        <div class="field">
          <label for="power" class="power">Power <output data-testid="power-value">${power}%</output></label>
          <span class="hint">The share of the time the miner trains; it rests the rest (${powerRange.min}–${powerRange.max}%).</span>
          <input id="power" type="range" data-testid="power" min=${powerRange.min} max=${powerRange.max} step="1" .value=${String(power)} ?disabled=${this.busy}
            @input=${(e: Event) => (this.power = Number((e.target as HTMLInputElement).value))}
            @change=${(e: Event) => void this.apply({ power: Number((e.target as HTMLInputElement).value) }, 'power')} />
        </div>
        <p class="muted" data-testid="device-now">Training on ${status.deviceLabel} at ${status.power}% power${
          settings.pending ? `; ${settings.nextDeviceLabel} from the next task` : ''
        }.</p>
        ${this.error ? html`<p class="notice error" role="alert">${this.error}</p>` : ''}
        ${this.saved ? html`<p class="notice ok" role="status" data-testid="saved">Saved: the miner uses the new ${this.saved} setting.</p>` : ''}
      </form>
    </section>`;
  }
}

customElements.define('ailo-miner-settings', AiloMinerSettings);
