/** <ailo-recovery-key-settings>: when the recovery key was made, and making a new one (which retires the old). */
import { LitElement, html, type TemplateResult } from 'lit';
import { replaceRecoveryKey, type AccountSession } from '../account/account-session.js';
import { NodeError } from '../../../protocol/errors.js';
import { WrongKeyError } from '../crypto/account-keys.js';
import { emit, problemText } from './events.js';
import { baseStyles } from './shared-styles.js';

export class AiloRecoveryKeySettings extends LitElement {
  static override properties = {
    session: { attribute: false },
    busy: { state: true },
    problem: { state: true },
  };

  declare session: AccountSession;
  declare busy: boolean;
  declare problem: string | undefined;

  constructor() {
    super();
    this.busy = false;
  }

  static override styles = [baseStyles];

  private async submit(e: SubmitEvent): Promise<void> {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    this.busy = true;
    this.problem = undefined;
    try {
      const recoveryKey = await replaceRecoveryKey(this.session, { password: String(new FormData(form).get('password')) });
      form.reset();
      emit(this, 'recovery-key-issued', { recoveryKey });
    } catch (err) {
      this.problem =
        err instanceof WrongKeyError || (err instanceof NodeError && err.code === 'WRONG_PASSWORD')
          ? 'The password is wrong.'
          : problemText(err);
    } finally {
      this.busy = false;
    }
  }

  override render(): TemplateResult {
    const made = new Date(this.session.account.recoveryKeyCreatedAt).toLocaleString();
    return html`<form class="card" @submit=${this.submit} aria-labelledby="rk-title">
      <h2 id="rk-title">Recovery key</h2>
      <p class="muted">Your current recovery key was made on ${made}. If you lost it, or think someone saw it, make a new one:
        the old key stops working at once.</p>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      ${this.problem ? html`<p class="notice error" role="alert">${this.problem}</p>` : ''}
      <div class="actions"><button type="submit" ?disabled=${this.busy}>${this.busy ? 'Making…' : 'Make a new recovery key'}</button></div>
    </form>`;
  }
}

customElements.define('ailo-recovery-key-settings', AiloRecoveryKeySettings);
