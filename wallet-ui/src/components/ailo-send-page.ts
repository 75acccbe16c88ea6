/**
 * <ailo-send-page>: address (EIP-55 checked) and amount (exact decimal ALC), a preview of the effect, then an
 * EIP-712 Transfer signed in this browser (or by an EIP-1193 wallet such as MetaMask) and posted to the node.
 */
import { LitElement, css, html, type TemplateResult } from 'lit';
import { parseAddress, toChecksumAddress } from '../../../protocol/address.js';
import type { AccountSession } from '../account/account-session.js';
import { networkDomainOf } from '../api/network.js';
import { NodeError } from '../../../protocol/errors.js';
import type { LedgerAccount } from '../../../protocol/ledger.js';
import { formatAlc, parseAlc } from '../../../protocol/amount.js';
import { signTransfer, type TransferIntent } from '../../../chain/tx/sign.js';
import { browserWallet, browserWalletAccount, signTransferWithProvider } from '../wallet/transfer.js';
import { checkRecipient, type AddressCheck } from '../wallet/recipient.js';
import { emit, problemText, unlockFromForm } from './events.js';
import { baseStyles } from './shared-styles.js';

type Signer = 'account' | 'browser-wallet';

interface Preview extends TransferIntent {
  balance: bigint;
}

function nodeProblem(err: unknown): string {
  if (err instanceof NodeError) {
    switch (err.code) {
      case 'TX_INSUFFICIENT_BALANCE':
        return 'Not enough ALC: the node counts transfers still pending too. Lower the amount or wait for them to land.';
      case 'TX_BAD_NONCE':
      case 'TX_NONCE_GAP':
      case 'TX_DUPLICATE':
        return 'Another transfer from this account got there first. Review again to sign with the next nonce.';
      case 'TX_POOL_FULL':
        return 'The node is busy right now. Try again in a few seconds.';
      case 'TX_BAD_SIGNATURE':
        return `The node refused the signature: ${err.message}.`;
      default:
        return `The node refused the transfer: ${err.message}.`;
    }
  }
  return problemText(err);
}

/** Where a sent transfer is: in the node's pool, in a block, or in a final block. */
type SentState = { status: 'pending' } | { status: 'in-block' | 'final'; height: string };

export class AiloSendPage extends LitElement {
  static override properties = {
    session: { attribute: false },
    ledger: { attribute: false },
    chainId: { attribute: false },
    genesisHash: { attribute: false },
    to: { state: true },
    amount: { state: true },
    touched: { state: true },
    signer: { state: true },
    preview: { state: true },
    busy: { state: true },
    problem: { state: true },
    sent: { state: true },
  };

  declare session: AccountSession;
  declare ledger: LedgerAccount | undefined;
  declare chainId: string | undefined;
  declare genesisHash: string | undefined;
  declare to: string;
  declare amount: string;
  declare touched: { to: boolean; amount: boolean };
  declare signer: Signer;
  declare preview: Preview | undefined;
  declare busy: boolean;
  declare problem: string | undefined;
  declare sent: { hash: string; to: string; amount: bigint; state: SentState } | undefined;

  constructor() {
    super();
    this.to = '';
    this.amount = '';
    this.touched = { to: false, amount: false };
    this.signer = 'account';
    this.busy = false;
  }

  static override styles = [
    baseStyles,
    css`
    .layout { display: grid; gap: 1.25rem; grid-template-columns: minmax(0, 1.4fr) minmax(0, 1fr); align-items: start; }
    @media (max-width: 820px) { .layout { grid-template-columns: 1fr; } }
    .amount-row { display: flex; gap: 0.5rem; }
    .amount-row input { flex: 1; }
    .unit { align-self: center; font-weight: 600; color: var(--muted); }
    .ok-note { color: var(--success); font-size: 0.84rem; font-weight: 500; }
    .warn-note { color: var(--warning); font-size: 0.84rem; font-weight: 500; }
    dl { display: grid; grid-template-columns: auto 1fr; gap: 0.55rem 1rem; margin: 0 0 1rem; }
    dt { color: var(--muted); }
    dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
    .big { font-size: 1.35rem; }
    fieldset { border: 0; padding: 0; margin: 0; display: grid; gap: 0.4rem; }
    legend { font-weight: 600; font-size: 0.92rem; margin-bottom: 0.3rem; }
    .radio { display: flex; gap: 0.5rem; align-items: center; font-weight: 500; }
    .radio input { width: auto; }
    .side p { font-size: 0.92rem; }
  `,
  ];

  private get toCheck(): AddressCheck {
    // A browser wallet sends from its own address, so the account's address is a fine recipient then.
    return checkRecipient(this.to, this.signer === 'account' ? this.session.address : undefined);
  }

  private get amountCheck(): ReturnType<typeof parseAlc> {
    const parsed = parseAlc(this.amount);
    if (parsed.ok && parsed.value === 0n) return { ok: false, problem: 'the amount must be more than 0' };
    return parsed;
  }

  private async review(e: SubmitEvent): Promise<void> {
    e.preventDefault();
    this.touched = { to: true, amount: true };
    this.problem = undefined;
    const to = this.toCheck;
    const amount = this.amountCheck;
    if (!to.ok || !amount.ok) {
      await this.updateComplete;
      (this.renderRoot.querySelector(!to.ok ? '#to' : '#amount') as HTMLInputElement | null)?.focus();
      return;
    }
    if (!networkDomainOf(this.chainId, this.genesisHash)) {
      this.problem = 'Waiting for the node to tell which network it runs; try again in a moment.';
      return;
    }
    this.busy = true;
    try {
      const from = this.signer === 'browser-wallet' ? await browserWalletAccount(browserWallet()!) : parseAddress(this.session.address);
      const account = await this.session.api.account(toChecksumAddress(from));
      const balance = BigInt(account.balance);
      if (amount.value > balance) {
        this.problem = `That is more than the balance of ${formatAlc(balance)} ALC.`;
        return;
      }
      this.preview = { from, to: to.address, amount: amount.value, nonce: BigInt(account.pendingNonce), balance };
      await this.updateComplete;
      (this.renderRoot.querySelector('#preview-title') as HTMLElement | null)?.focus();
    } catch (err) {
      this.problem = nodeProblem(err);
    } finally {
      this.busy = false;
    }
  }

  /** After a reload the key is not in memory: the password opens it, then the transfer is signed at once. */
  private async unlockAndSign(e: SubmitEvent): Promise<void> {
    this.busy = true;
    this.problem = undefined;
    this.problem = await unlockFromForm(this.session, e);
    this.busy = false;
    if (this.problem) return;
    await this.sign();
  }

  private async sign(): Promise<void> {
    const p = this.preview;
    const network = networkDomainOf(this.chainId, this.genesisHash);
    if (!p || !network) return;
    this.busy = true;
    this.problem = undefined;
    try {
      const body =
        this.signer === 'browser-wallet'
          ? await signTransferWithProvider(browserWallet()!, p, network)
          : signTransfer(p, this.session.signingKey(), network);
      const { hash } = await this.session.api.transfer(body);
      this.sent = { hash, to: body.to, amount: p.amount, state: { status: 'pending' } };
      void this.follow(hash);
      this.preview = undefined;
      this.to = '';
      this.amount = '';
      this.touched = { to: false, amount: false };
      emit(this, 'transfer-sent', { hash, from: body.from, to: body.to, amount: body.amount, sentAt: Date.now() });
      await this.updateComplete;
      (this.renderRoot.querySelector('#sent') as HTMLElement | null)?.focus();
    } catch (err) {
      this.problem = nodeProblem(err);
    } finally {
      this.busy = false;
    }
  }

  private form(): TemplateResult {
    const to = this.toCheck;
    const amount = this.amountCheck;
    const showTo = this.touched.to && !to.ok;
    const showAmount = this.touched.amount && !amount.ok;
    const wallet = browserWallet();
    const balance = this.ledger ? BigInt(this.ledger.balance) : undefined;
    return html`<form class="card" @submit=${this.review} novalidate>
      <h2>Transfer</h2>
      <div class="field">
        <label for="to">Recipient address</label>
        <input id="to" name="to" class="mono" autocomplete="off" spellcheck="false" placeholder="0x…" .value=${this.to}
          aria-invalid=${showTo ? 'true' : 'false'} aria-describedby="to-note"
          @input=${(e: Event) => {
            this.to = (e.target as HTMLInputElement).value;
          }}
          @blur=${() => {
            this.touched = { ...this.touched, to: this.to !== '' || this.touched.to };
          }} />
        <span id="to-note" aria-live="polite">${
          showTo
            ? html`<span class="field-error">${!to.ok ? to.problem : ''}</span>`
            : to.ok
              ? html`<span class=${to.note ? 'warn-note' : 'ok-note'}>${to.note ?? '✓ Valid address with checksum'}</span>`
              : ''
        }</span>
      </div>
      <div class="field">
        <label for="amount">Amount (ALC)</label>
        <span class="amount-row">
          <input id="amount" name="amount" inputmode="decimal" autocomplete="off" placeholder="0.0" .value=${this.amount}
            aria-invalid=${showAmount ? 'true' : 'false'} aria-describedby="amount-note"
            @input=${(e: Event) => {
              this.amount = (e.target as HTMLInputElement).value;
            }}
            @blur=${() => {
              this.touched = { ...this.touched, amount: this.amount !== '' || this.touched.amount };
            }} />
          <span class="unit" aria-hidden="true">ALC</span>
          ${
            balance !== undefined && balance > 0n
              ? html`<button type="button" class="secondary" @click=${() => {
                  this.amount = formatAlc(balance, { group: false });
                }}>Max</button>`
              : ''
          }
        </span>
        <span id="amount-note">${
          showAmount && !amount.ok
            ? html`<span class="field-error">${amount.problem.charAt(0).toUpperCase() + amount.problem.slice(1)}.</span>`
            : html`<span class="hint">Up to 18 decimal places.${balance !== undefined ? ` Available: ${formatAlc(balance)} ALC.` : ''}</span>`
        }</span>
      </div>
      ${
        wallet
          ? html`<fieldset>
        <legend>Sign with</legend>
        <label class="radio"><input type="radio" name="signer" value="account" .checked=${this.signer === 'account'}
          @change=${() => {
            this.signer = 'account';
          }} /> This account's key (${this.session.address.slice(0, 10)}…)</label>
        <label class="radio"><input type="radio" name="signer" value="browser-wallet" .checked=${this.signer === 'browser-wallet'}
          @change=${() => {
            this.signer = 'browser-wallet';
          }} /> My browser wallet (e.g. MetaMask), from its own address</label>
      </fieldset>`
          : ''
      }
      ${this.problem ? html`<p class="notice error" role="alert">${this.problem}</p>` : ''}
      <div class="actions"><button type="submit" ?disabled=${this.busy}>${this.busy ? 'Checking…' : 'Review transfer'}</button></div>
    </form>`;
  }

  private previewCard(p: Preview): TemplateResult {
    const locked = this.signer === 'account' && !this.session.unlocked;
    return html`<section class="card" aria-labelledby="preview-title">
      <h2 id="preview-title" tabindex="-1">Check and sign</h2>
      <dl>
        <!-- Ungrouped: "12,001" reads as 12.001 where the comma is the decimal mark; "12001" reads one way everywhere. -->
        <dt>Send</dt><dd class="big" data-testid="preview-amount">${formatAlc(p.amount, { group: false })} ALC</dd>
        <dt>To</dt><dd class="mono">${toChecksumAddress(p.to)}</dd>
        <dt>From</dt><dd class="mono">${toChecksumAddress(p.from)}</dd>
        <dt>Balance now</dt><dd>${formatAlc(p.balance)} ALC</dd>
        <dt>Balance after</dt><dd data-testid="preview-after">${formatAlc(p.balance - p.amount)} ALC</dd>
        <dt>Fee</dt><dd>none</dd>
        <dt>Nonce</dt><dd>${p.nonce.toString()}</dd>
      </dl>
      <p class="muted">You sign an EIP-712 "Transfer" for this network (chain ${this.chainId}, genesis ${this.genesisHash?.slice(0, 10)}…)${this.signer === 'account' ? ' with the key held in this tab' : ' in your browser wallet'}.
        A transfer cannot be undone.</p>
      ${this.problem ? html`<p class="notice error" role="alert">${this.problem}</p>` : ''}
      ${
        locked
          ? html`<form class="stack" @submit=${this.unlockAndSign}>
        <p class="notice info">Your session survived a page reload, but the wallet key did not. Enter your password to unlock it and send.</p>
        <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
        <div class="actions">
          <button type="submit" ?disabled=${this.busy}>${this.busy ? 'Working…' : 'Unlock and send'}</button>
          <button type="button" class="secondary" ?disabled=${this.busy} @click=${() => {
            this.preview = undefined;
            this.problem = undefined;
          }}>Edit</button>
        </div>
      </form>`
          : html`<div class="actions">
        <button type="button" ?disabled=${this.busy} @click=${this.sign}>${this.busy ? 'Sending…' : 'Sign and send'}</button>
        <button type="button" class="secondary" ?disabled=${this.busy} @click=${() => {
          this.preview = undefined;
          this.problem = undefined;
        }}>Edit</button>
      </div>`
      }
    </section>`;
  }

  /** Polls the node for the sent transfer until it is final (or another is sent, or the page is left). */
  private async follow(hash: string): Promise<void> {
    for (
      let delay = 500;
      this.isConnected && this.sent?.hash === hash && this.sent.state.status !== 'final';
      delay = Math.min(5000, delay * 1.5)
    ) {
      await new Promise((r) => setTimeout(r, delay));
      try {
        const found = await this.session.api.tx(hash);
        if (this.sent?.hash !== hash) return;
        if (found.status === 'confirmed')
          this.sent = { ...this.sent, state: { status: found.final ? 'final' : 'in-block', height: found.height ?? '?' } };
      } catch {
        // The node is unreachable for a moment: the next poll tries again.
      }
    }
  }

  private sentStatus(s: SentState): TemplateResult {
    switch (s.status) {
      case 'pending':
        return html`It is <strong>pending</strong> until a block includes it.`;
      case 'in-block':
        return html`It is <strong>in block ${s.height}</strong>, not yet final.`;
      case 'final':
        return html`It is <strong>final</strong> (block ${s.height}): it can no longer be undone.`;
    }
  }

  override render(): TemplateResult {
    return html`
      <h1 tabindex="-1">Send ALC</h1>
      <p class="lead">Transfers are signed here, in your browser; the node only checks and records them.</p>
      ${
        this.sent
          ? html`<p id="sent" class="notice ok" role="status" tabindex="-1" data-testid="sent">
        Sent ${formatAlc(this.sent.amount)} ALC to <span class="mono">${this.sent.to}</span>. <span data-testid="sent-status">${this.sentStatus(this.sent.state)}</span>
        See it in your <a href="/wallet">history</a>. Transaction <span class="mono">${this.sent.hash}</span>.</p>`
          : ''
      }
      <div class="layout">
        ${this.preview ? this.previewCard(this.preview) : this.form()}
        <aside class="card side" aria-label="About sending">
          <h2>Good to know</h2>
          <p>Addresses with mixed capital letters carry an EIP-55 checksum; a mistyped one is caught before you sign.</p>
          <p>Amounts are exact: ALC has 18 decimal places and nothing is rounded.</p>
          <p>A transfer is <strong>pending</strong> until a block includes it, then <strong>in block N</strong>, then <strong>final</strong>.</p>
        </aside>
      </div>
    `;
  }
}

customElements.define('ailo-send-page', AiloSendPage);
