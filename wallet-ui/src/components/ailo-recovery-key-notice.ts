/** <ailo-recovery-key-notice>: a new recovery key, shown this once, to download or copy before going on. */
import { LitElement, css, html, type TemplateResult } from 'lit';
import { formatRecoveryKey } from '../crypto/account-keys.js';
import './ailo-copy-button.js';
import { baseStyles } from './shared-styles.js';

export function recoveryKeyFileText(username: string, recoveryKey: string, at = new Date()): string {
  return [
    'Ailo Network recovery key',
    '',
    `Username:      ${username}`,
    `Recovery key:  ${formatRecoveryKey(recoveryKey)}`,
    `Created:       ${at.toISOString().replace('T', ' ').slice(0, 16)} UTC`,
    '',
    'Use it on "Forgot password?" to set a new password. It works once; you then get a new one.',
    'Keep it offline and private: with your username it opens your wallet.',
    '',
  ].join('\n');
}

export class AiloRecoveryKeyNotice extends LitElement {
  static override properties = {
    recoveryKey: { attribute: false },
    username: { attribute: false },
    reason: { attribute: false },
    saved: { state: true },
    downloaded: { state: true },
  };

  declare recoveryKey: string;
  declare username: string;
  /** Why there is a new key: a new account, a recovery (the old key is retired), or a replacement from Settings. */
  declare reason: 'new-account' | 'recovered' | 'replaced';
  declare saved: boolean;
  declare downloaded: boolean;

  constructor() {
    super();
    this.saved = false;
    this.downloaded = false;
    this.reason = 'new-account';
  }

  static override styles = [
    baseStyles,
    css`
    .wrap { max-width: 640px; margin: 0.5rem auto 0; }
    .notice { margin: 0.5rem 0 0.75rem; }
    .key {
      font-family: var(--mono); font-size: 1.12rem; letter-spacing: 0.02em; text-align: center; padding: 1rem 0.5rem;
      background: var(--accent-soft); border: 1px solid #cdd7ff; border-radius: 10px; margin: 0 0 1rem; user-select: all;
    }
    .check { display: flex; gap: 0.55rem; align-items: flex-start; font-weight: 500; margin: 1rem 0; }
    .check input { width: auto; margin-top: 0.25rem; }
    ul { margin: 1.1rem 0 1rem; padding-left: 1.2rem; }
    li { margin-bottom: 0.3rem; }
    @media (max-width: 520px) { .key { font-size: 1rem; } }
  `,
  ];

  private download(): void {
    const blob = new Blob([recoveryKeyFileText(this.username, this.recoveryKey)], { type: 'text/plain' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `ailo-recovery-key-${this.username}.txt`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    this.downloaded = true;
  }

  override render(): TemplateResult {
    return html`<div class="wrap">
      <h1 tabindex="-1">Save your recovery key</h1>
      ${this.reason === 'recovered' ? html`<p class="notice ok" role="status">Your new password is set, and the recovery key you used is retired.</p>` : ''}
      ${this.reason === 'replaced' ? html`<p class="notice ok" role="status">Your previous recovery key no longer works.</p>` : ''}
      <p class="lead">This is the only way back into your wallet if you forget your password. It is shown now and never again.</p>
      <section class="card" aria-labelledby="key-label">
        <p id="key-label" class="muted">Recovery key for <strong>${this.username}</strong> (36 characters; the dashes are only for reading)</p>
        <p class="key" data-testid="recovery-key">${formatRecoveryKey(this.recoveryKey)}</p>
        <div class="actions">
          <button type="button" @click=${this.download}>Download as .txt</button>
          <ailo-copy-button .text=${formatRecoveryKey(this.recoveryKey)} label="Copy key"></ailo-copy-button>
          ${this.downloaded ? html`<span class="muted" role="status">Downloaded.</span>` : ''}
        </div>
        <ul class="muted">
          <li>Store it offline (a password manager, or printed and kept safe).</li>
          <li>Each key works once: after you use it you get a new one.</li>
          <li>Anyone with this key and your username can take your wallet.</li>
        </ul>
        <label class="check"><input type="checkbox" .checked=${this.saved} @change=${(e: Event) => {
          this.saved = (e.target as HTMLInputElement).checked;
        }} />
          I have saved my recovery key somewhere safe</label>
        <div class="actions">
          <button type="button" ?disabled=${!this.saved} @click=${() => this.dispatchEvent(new CustomEvent('done'))}>Continue to my wallet</button>
        </div>
      </section>
    </div>`;
  }
}

customElements.define('ailo-recovery-key-notice', AiloRecoveryKeyNotice);
