/** <ailo-change-password-form>: reseals the wallet key under a new password; other sessions end. */
import { LitElement, html, type TemplateResult } from 'lit';
import { changePassword, passwordProblem, type AccountSession } from '../account/account-session.js';
import { NodeError } from '../../../protocol/errors.js';
import { WrongKeyError } from '../crypto/account-keys.js';
import { problemText } from './events.js';
import { baseStyles } from './shared-styles.js';

export class AiloChangePasswordForm extends LitElement {
  static override properties = {
    session: { attribute: false },
    busy: { state: true },
    problem: { state: true },
    done: { state: true },
  };

  declare session: AccountSession;
  declare busy: boolean;
  declare problem: string | undefined;
  declare done: boolean;

  constructor() {
    super();
    this.busy = false;
    this.done = false;
  }

  static override styles = [baseStyles];

  private async submit(e: SubmitEvent): Promise<void> {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const data = new FormData(form);
    const next = String(data.get('next'));
    const problem = passwordProblem(next) ?? (next !== data.get('confirm') ? 'the two new passwords differ' : undefined);
    this.done = false;
    if (problem) {
      this.problem = problemText(new Error(problem)) + '.';
      return;
    }
    this.busy = true;
    this.problem = undefined;
    try {
      await changePassword(this.session, { currentPassword: String(data.get('current')), newPassword: next });
      form.reset();
      this.done = true;
    } catch (err) {
      this.problem =
        err instanceof WrongKeyError || (err instanceof NodeError && err.code === 'WRONG_PASSWORD')
          ? 'The current password is wrong.'
          : problemText(err);
    } finally {
      this.busy = false;
    }
  }

  override render(): TemplateResult {
    return html`<form class="card" @submit=${this.submit} novalidate aria-labelledby="pw-title">
      <h2 id="pw-title">Change password</h2>
      <label>Current password <input name="current" type="password" autocomplete="current-password" required /></label>
      <div class="field">
        <label for="next">New password</label>
        <input id="next" name="next" type="password" autocomplete="new-password" required aria-describedby="next-hint" />
        <span class="hint" id="next-hint">At least 8 characters.</span>
      </div>
      <label>Repeat the new password <input name="confirm" type="password" autocomplete="new-password" required /></label>
      ${this.problem ? html`<p class="notice error" role="alert">${this.problem}</p>` : ''}
      ${this.done ? html`<p class="notice ok" role="status">Password changed. Other devices were logged out.</p>` : ''}
      <div class="actions"><button type="submit" ?disabled=${this.busy}>${this.busy ? 'Changing…' : 'Change password'}</button></div>
    </form>`;
  }
}

customElements.define('ailo-change-password-form', AiloChangePasswordForm);
