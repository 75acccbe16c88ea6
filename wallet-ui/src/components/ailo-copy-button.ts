/** <ailo-copy-button>: copies a text to the clipboard and says so. */
import { LitElement, html, type TemplateResult } from 'lit';
import { baseStyles } from './shared-styles.js';

export class AiloCopyButton extends LitElement {
  static override properties = {
    text: { attribute: false },
    label: {},
    state: { state: true },
  };

  declare text: string;
  declare label: string;
  declare state: 'idle' | 'copied' | 'failed';

  constructor() {
    super();
    this.label = 'Copy';
    this.state = 'idle';
  }

  static override styles = [baseStyles];

  private async copy(): Promise<void> {
    try {
      await navigator.clipboard.writeText(this.text);
      this.state = 'copied';
    } catch {
      this.state = 'failed';
    }
  }

  override render(): TemplateResult {
    const said = this.state === 'copied' ? 'Copied' : this.state === 'failed' ? 'Copy failed: select the text and copy it' : '';
    return html`<span class="actions">
      <button type="button" class="secondary" @click=${this.copy}>${this.state === 'copied' ? '✓ Copied' : this.label}</button>
      <span class="sr-only" role="status">${said}</span>
      ${this.state === 'failed' ? html`<span class="field-error">${said}</span>` : ''}
    </span>`;
  }
}

customElements.define('ailo-copy-button', AiloCopyButton);
