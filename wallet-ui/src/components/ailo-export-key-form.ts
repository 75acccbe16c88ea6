/** <ailo-export-key-form>: shows the private key after the password is entered again, for use in another wallet. */
import { LitElement, css, html, type TemplateResult } from 'lit';
import { exportPrivateKey, type AccountSession } from '../account/account-session.js';
import { WrongKeyError } from '../crypto/account-keys.js';
import './ailo-copy-button.js';
import { problemText } from './events.js';
import { baseStyles } from './shared-styles.js';

export class AiloExportKeyForm extends LitElement {
  static override properties = {
    session: { attribute: false },
    busy: { state: true },
    problem: { state: true },
    privateKey: { state: true },
  };

  declare session: AccountSession;
  declare busy: boolean;
  declare problem: string | undefined;
  declare privateKey: string | undefined;

  constructor() {
    super();
    this.busy = false;
  }

  static override styles = [baseStyles, css`.key { background: var(--danger-bg); padding: 0.75rem; border-radius: 8px; margin: 0; }`];

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.privateKey = undefined; // never left on screen after leaving the page
  }

  private async submit(e: SubmitEvent): Promise<void> {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    this.busy = true;
    this.problem = undefined;
    try {
      this.privateKey = await exportPrivateKey(this.session, String(new FormData(form).get('password')));
      form.reset();
    } catch (err) {
      this.problem = err instanceof WrongKeyError ? 'The password is wrong.' : problemText(err);
    } finally {
      this.busy = false;
    }
  }

  override render(): TemplateResult {
    return html`<section class="card" aria-labelledby="export-title">
      <h2 id="export-title">Export private key</h2>
      <p class="muted">For use in another wallet (MetaMask: "Import account"). Anyone who sees this key controls your ALC.</p>
      ${
        this.privateKey
          ? html`
        <p class="mono key" data-testid="private-key">${this.privateKey}</p>
        <div class="actions">
          <ailo-copy-button .text=${this.privateKey} label="Copy key"></ailo-copy-button>
          <button type="button" class="secondary" @click=${() => {
            this.privateKey = undefined;
          }}>Hide</button>
        </div>`
          : html`
        <form class="stack" @submit=${this.submit}>
          <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
          ${this.problem ? html`<p class="notice error" role="alert">${this.problem}</p>` : ''}
          <div class="actions"><button type="submit" class="danger" ?disabled=${this.busy}>${this.busy ? 'Opening…' : 'Show private key'}</button></div>
        </form>`
      }
    </section>`;
  }
}

customElements.define('ailo-export-key-form', AiloExportKeyForm);
