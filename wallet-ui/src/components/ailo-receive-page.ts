/**
 * <ailo-receive-page>: the address, a copy button, and a QR code of the EIP-681 URI
 * `ethereum:<address>@<chainId>[?value=<base units>]`, optionally asking for an amount.
 */
import { LitElement, css, html, type PropertyValues, type TemplateResult } from 'lit';
import QRCode from 'qrcode';
import { formatAlc, parseAlc } from '../../../protocol/amount.js';
import './ailo-copy-button.js';
import { baseStyles } from './shared-styles.js';

/** The EIP-681 payment URI; `value` in base units (EIP-681's `value` is in the chain's smallest unit, like wei). */
export function paymentUri(address: string, chainId: string, value?: bigint): string {
  return `ethereum:${address}@${chainId}${value !== undefined && value > 0n ? `?value=${value}` : ''}`;
}

export class AiloReceivePage extends LitElement {
  static override properties = {
    address: { attribute: false },
    chainId: { attribute: false },
    problem: { state: true },
    amount: { state: true },
  };

  declare amount: string;

  constructor() {
    super();
    this.amount = '';
  }

  /** The asked amount, when the field holds a valid one. */
  private get asked(): { value?: bigint; problem?: string } {
    if (this.amount.trim() === '') return {};
    const parsed = parseAlc(this.amount);
    return parsed.ok ? { value: parsed.value } : { problem: parsed.problem };
  }

  declare address: string;
  declare chainId: string | undefined;
  declare problem: string | undefined;

  static override styles = [
    baseStyles,
    css`
    .layout { display: grid; gap: 1.25rem; grid-template-columns: auto minmax(0, 1fr); align-items: start; }
    @media (max-width: 720px) { .layout { grid-template-columns: 1fr; } .qr { justify-self: center; } }
    .qr { display: grid; justify-items: center; gap: 0.5rem; }
    canvas { display: block; width: 240px; height: 240px; border-radius: 8px; background: #fff; }
    .address { font-size: 1.15rem; background: var(--accent-soft); padding: 0.75rem 0.9rem; border-radius: 8px; margin: 0 0 0.9rem; }
    .uri { font-size: 0.85rem; }
  `,
  ];

  protected override updated(changed: PropertyValues<this>): void {
    if ((changed.has('address') || changed.has('chainId') || changed.has('amount')) && this.address && this.chainId) void this.draw();
  }

  private async draw(): Promise<void> {
    const canvas = this.renderRoot.querySelector('canvas');
    if (!canvas || !this.chainId) return;
    try {
      await QRCode.toCanvas(canvas, paymentUri(this.address, this.chainId, this.asked.value), {
        errorCorrectionLevel: 'M',
        margin: 4,
        width: 240,
        color: { dark: '#111a33', light: '#ffffff' },
      });
    } catch (err) {
      this.problem = `Could not draw the QR code: ${(err as Error).message}`;
    }
  }

  override render(): TemplateResult {
    const asked = this.asked;
    const uri = this.chainId ? paymentUri(this.address, this.chainId, asked.value) : undefined;
    return html`
      <h1 tabindex="-1">Receive ALC</h1>
      <p class="lead">Share your address, or let the sender scan the code. Anyone can send to it; only your key can spend from it.</p>
      <div class="layout">
        <section class="card qr" aria-label="QR code">
          ${uri ? html`<canvas width="240" height="240" role="img" aria-label=${`QR code of ${uri}`} data-testid="qr"></canvas>` : html`<p class="muted">Waiting for the node…</p>`}
          <span class="muted">${asked.value ? `Scan to pay ${formatAlc(asked.value, { group: false })} ALC` : 'Scan to pay'}</span>
          <label class="field">Ask for an amount (optional, ALC)
            <input data-testid="ask-amount" inputmode="decimal" autocomplete="off" .value=${this.amount}
              @input=${(e: Event) => {
                this.amount = (e.target as HTMLInputElement).value;
              }} aria-invalid=${asked.problem ? 'true' : 'false'}>
          </label>
          ${asked.problem ? html`<span class="hint error" role="alert">${asked.problem}</span>` : ''}
        </section>
        <section class="card" aria-labelledby="addr-title">
          <h2 id="addr-title">Your address</h2>
          <p class="mono address" data-testid="address">${this.address}</p>
          <div class="actions"><ailo-copy-button .text=${this.address} label="Copy address"></ailo-copy-button></div>
          ${uri ? html`<p class="muted uri">Payment link (EIP-681): <span class="mono" data-testid="uri">${uri}</span></p>` : ''}
          <p class="muted">Only send ALC on this network (chain ${this.chainId ?? '…'}) to this address.</p>
          ${this.problem ? html`<p class="notice error" role="alert">${this.problem}</p>` : ''}
        </section>
      </div>
    `;
  }
}

customElements.define('ailo-receive-page', AiloReceivePage);
