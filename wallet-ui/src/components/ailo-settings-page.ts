/** <ailo-settings-page>: the account, its password, its recovery key, and exporting the wallet key. */
import { LitElement, css, html, type TemplateResult } from 'lit';
import type { AccountSession } from '../account/account-session.js';
import './ailo-change-password-form.js';
import './ailo-export-key-form.js';
import './ailo-recovery-key-settings.js';
import { baseStyles } from './shared-styles.js';

export class AiloSettingsPage extends LitElement {
  static override properties = { session: { attribute: false } };

  declare session: AccountSession;

  static override styles = [
    baseStyles,
    css`
    @media (max-width: 420px) { .grid { grid-template-columns: 1fr !important; } }
    .grid { display: grid; gap: 1.25rem; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); align-items: start; }
    dl { display: grid; grid-template-columns: auto 1fr; gap: 0.4rem 1rem; margin: 0; }
    dt { color: var(--muted); }
    dd { margin: 0; overflow-wrap: anywhere; }
  `,
  ];

  override render(): TemplateResult {
    const a = this.session.account;
    return html`
      <h1 tabindex="-1">Settings</h1>
      <p class="lead">Everything here happens in your browser first; the node only stores what is encrypted.</p>
      <div class="grid">
        <section class="card" aria-labelledby="acct-title">
          <h2 id="acct-title">Account</h2>
          <dl>
            <dt>Username</dt><dd>${a.username}</dd>
            <dt>Address</dt><dd class="mono">${this.session.address}</dd>
            <dt>Created</dt><dd>${new Date(a.createdAt).toLocaleString()}</dd>
            <dt>Key protection</dt><dd>scrypt (N = 2<sup>${Math.log2(a.kdf.N)}</sup>) + AES-256-GCM</dd>
          </dl>
        </section>
        <ailo-recovery-key-settings .session=${this.session}></ailo-recovery-key-settings>
        <ailo-change-password-form .session=${this.session}></ailo-change-password-form>
        <ailo-export-key-form .session=${this.session}></ailo-export-key-form>
      </div>
    `;
  }
}

customElements.define('ailo-settings-page', AiloSettingsPage);
