/** <ailo-wallet-page>: the balance, kept live, and the account's history. */
import { LitElement, css, html, type TemplateResult } from 'lit';
import type { AccountSession } from '../account/account-session.js';
import type { NodeApi } from '../api/node-api.js';
import type { ChainHead, LedgerAccount } from '../../../protocol/ledger.js';
import { formatAlc } from '../../../protocol/amount.js';
import type { PendingTransfer } from './events.js';
import './ailo-history-list.js';
import { baseStyles } from './shared-styles.js';

export class AiloWalletPage extends LitElement {
  static override properties = {
    api: { attribute: false },
    session: { attribute: false },
    ledger: { attribute: false },
    head: { attribute: false },
    pending: { attribute: false },
  };

  declare api: NodeApi;
  declare session: AccountSession;
  declare ledger: LedgerAccount | undefined;
  declare head: ChainHead | undefined;
  declare pending: PendingTransfer[];

  static override styles = [
    baseStyles,
    css`
    .top { display: grid; grid-template-columns: 1fr auto; gap: 1rem; align-items: end; margin-bottom: 1.25rem; }
    .balance-card { background: linear-gradient(135deg, #233a9b, #3a5bd9); color: #fff; border: 0; }
    .balance-card .label { color: #d7defc; font-size: 0.9rem; margin: 0; }
    .amount { font-size: 2.3rem; font-weight: 700; margin: 0.15rem 0 0.35rem; overflow-wrap: anywhere; line-height: 1.15; }
    .amount .unit { font-size: 1.1rem; font-weight: 600; color: #d7defc; margin-left: 0.3rem; }
    .address { color: #d7defc; font-size: 0.85rem; margin: 0; }
    .balance-card .actions { margin-top: 1rem; }
    .balance-card a {
      color: #1b2a6b; background: #fff; text-decoration: none; font-weight: 600; padding: 0.55rem 1.1rem; border-radius: 8px;
    }
    .balance-card a:focus-visible { outline: 3px solid #ffd166; }
    .grid { display: grid; gap: 1.25rem; }
    @media (max-width: 600px) { .amount { font-size: 1.8rem; } }
  `,
  ];

  override render(): TemplateResult {
    const l = this.ledger;
    return html`
      <h1 tabindex="-1">Wallet</h1>
      <p class="lead">Balance and history straight from the ledger, updated as new blocks arrive.</p>
      <div class="grid">
        <section class="card balance-card" aria-labelledby="bal">
          <p class="label" id="bal">Balance</p>
          <p class="amount" data-testid="balance" aria-live="polite">${l ? formatAlc(BigInt(l.balance)) : '…'}<span class="unit">ALC</span></p>
          <p class="address mono">${this.session.address}</p>
          <div class="actions">
            <a href="/send">Send</a>
            <a href="/receive">Receive</a>
          </div>
        </section>
        <ailo-history-list .api=${this.api} .address=${this.session.address} .head=${this.head} .pending=${this.pending}></ailo-history-list>
      </div>
    `;
  }
}

customElements.define('ailo-wallet-page', AiloWalletPage);
