/**
 * <ailo-chat-page>: chat with the network's model, served by the contributors of an inference room. Pick a model
 * (what it is, said plainly), write a message, and the answer streams in token by token; the conversation stays in
 * this browser. Below, this browser can serve the model itself (<ailo-serve-panel>).
 */
import { LitElement, css, html, type TemplateResult } from 'lit';
import type { AccountSession } from '../account/account-session.js';
import type { NodeApi } from '../api/node-api.js';
import { chatProblem, streamChat } from '../chat/chat-client.js';
import { InsufficientFeeError, signedChatFee } from '../chat/chat-fee.js';
import { networkDomainOf } from '../api/network.js';
import { formatAlc } from '../../../protocol/amount.js';
import { ConversationStore, conversationPrompt, type AnswerMeta, type Turn } from '../chat/conversation.js';
import { roomController } from '../chat/room-controller.js';
import { NodeError } from '../../../protocol/errors.js';
import { CHAT_DEFAULTS, CHAT_LIMITS, type ChatEvent, type InferenceModel } from '../../../protocol/inference.js';
import { problemText, unlockFromForm } from './events.js';
import { baseStyles } from './shared-styles.js';
import './ailo-serve-panel.js';

const MODELS_POLL_MS = 3_000;
/** The network's full model; the network's model in any other config is a small test model (a devnet's). */
const PRODUCTION_CONFIG = 'ailo-1b';

type ModelTurn = Extract<Turn, { role: 'model' }>;

function formatParams(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} billion`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} million`;
  return n.toLocaleString('en-US');
}

/** Base units (a decimal string from the node) as ALC; '?' for a value that is not one. */
const alcText = (units: string | undefined): string => (/^[0-9]{1,78}$/.test(units ?? '') ? formatAlc(BigInt(units!)) : '?');

const spanText = (s: { start: number; end: number }): string => (s.end - s.start === 1 ? `${s.start}` : `${s.start}–${s.end - 1}`);

/** A sampling setting read from its input: a number within [min, max] (an integer where asked), else undefined. */
function setting(input: HTMLInputElement, min: number, max: number, integer: boolean): number | undefined {
  const v = Number(input.value);
  if (input.value.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) return undefined;
  return v;
}

export class AiloChatPage extends LitElement {
  static override properties = {
    api: { attribute: false },
    session: { attribute: false },
    chainId: { attribute: false },
    genesisHash: { attribute: false },
    models: { state: true },
    modelId: { state: true },
    modelsProblem: { state: true },
    share: { state: true },
    turns: { state: true },
    streaming: { state: true },
    problem: { state: true },
    temperature: { state: true },
    topK: { state: true },
    maxTokens: { state: true },
    settingsProblem: { state: true },
  };

  declare api: NodeApi;
  declare session: AccountSession;
  declare chainId: string | undefined;
  declare genesisHash: string | undefined;
  declare models: InferenceModel[] | undefined;
  declare modelId: string | undefined;
  declare modelsProblem: string | undefined;
  declare share: bigint | undefined;
  declare turns: Turn[];
  /** The answer being streamed: its stop. */
  declare streaming: AbortController | undefined;
  declare problem: string | undefined;
  declare temperature: number;
  declare topK: number;
  declare maxTokens: number;
  declare settingsProblem: string | undefined;

  private readonly store = new ConversationStore(localStorage);
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private servePhase: string | undefined;
  /** This browser's own contributor changed phase (serving, removed...): the room it shows changed too. */
  private readonly onServeChange = (): void => {
    const phase = roomController.state.contributor?.phase;
    if (phase === this.servePhase) return;
    this.servePhase = phase;
    void this.pollModels();
  };

  constructor() {
    super();
    this.turns = [];
    this.temperature = CHAT_DEFAULTS.temperature;
    this.topK = CHAT_DEFAULTS.topK;
    this.maxTokens = CHAT_DEFAULTS.maxTokens;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.turns = this.store.load(this.session.address);
    this.servePhase = roomController.state.contributor?.phase;
    roomController.addEventListener('change', this.onServeChange);
    void this.pollModels();
    void this.api.genesis().then(
      (g) => {
        if (/^[0-9]{1,78}$/.test(g.rewards?.inferenceShare ?? '')) this.share = BigInt(g.rewards.inferenceShare);
      },
      () => undefined, // the panel then names "the network's inference share"
    );
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearTimeout(this.pollTimer);
    roomController.removeEventListener('change', this.onServeChange);
    this.streaming?.abort();
  }

  private async pollModels(): Promise<void> {
    clearTimeout(this.pollTimer);
    try {
      const { models } = await this.api.inferenceModels();
      this.models = models;
      this.modelsProblem = undefined;
      if (!models.some((m) => m.id === this.modelId)) this.modelId = models[0]?.id;
    } catch (err) {
      this.modelsProblem =
        err instanceof NodeError && err.status === 404
          ? 'This node runs no inference rooms: chat needs a coordinator node that trains the model. Open the wallet of such a node to chat.'
          : `Could not read the models this node serves: ${problemText(err)}`;
    } finally {
      // One timer, however many reads overlapped.
      clearTimeout(this.pollTimer);
      if (this.isConnected) this.pollTimer = setTimeout(() => void this.pollModels(), MODELS_POLL_MS);
    }
  }

  /** While an answer streams in, the conversation keeps its end in view. */
  protected override updated(): void {
    if (!this.streaming) return;
    const list = this.renderRoot.querySelector('ol.turns');
    if (list) list.scrollTop = list.scrollHeight;
  }

  private get model(): InferenceModel | undefined {
    return this.models?.find((m) => m.id === this.modelId);
  }

  private save(): void {
    this.store.save(this.session.address, this.turns);
  }

  private clear(): void {
    this.streaming?.abort();
    this.store.clear(this.session.address);
    this.turns = [];
    this.problem = undefined;
  }

  /** One event of the answer being streamed, into its turn. */
  private onEvent(ev: ChatEvent, answer: ModelTurn, meta: AnswerMeta): void {
    if (ev.type === 'start') {
      if (ev.version !== undefined) meta.version = ev.version;
      meta.fee = ev.fee;
    } else if (ev.type === 'token') {
      answer.text += ev.text;
      meta.tokens++;
    } else if (ev.type === 'notice') meta.notices.push(ev.message);
    else if (ev.type === 'done') {
      meta.done = true;
      // What the answer cost in the end: the fee less what the coordinator refunded.
      if (meta.fee !== undefined && /^[0-9]{1,78}$/.test(ev.refund ?? '') && BigInt(ev.refund) <= BigInt(meta.fee))
        meta.fee = (BigInt(meta.fee) - BigInt(ev.refund)).toString();
      meta.contributors = ev.contributors;
      meta.checked = ev.checked;
    } else if (ev.type === 'error') meta.problem = chatProblem(ev.code, ev.message);
    this.requestUpdate();
  }

  private async send(e: SubmitEvent): Promise<void> {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const box = form.querySelector('textarea')!;
    const text = box.value.trim();
    const model = this.model;
    if (!text || this.streaming || !model) return;
    if (this.settingsProblem) {
      this.problem = this.settingsProblem;
      return;
    }
    const network = networkDomainOf(this.chainId, this.genesisHash);
    if (!network) {
      this.problem = 'Waiting for the node to tell which network it runs; try again in a moment.';
      return;
    }
    // Each answer's fee is signed with the wallet key: after a page reload, the password in this form unlocks it.
    if (!this.session.unlocked) {
      this.problem = await unlockFromForm(this.session, e);
      if (this.problem) return;
    }
    this.problem = undefined;
    const user: Turn = { role: 'user', text, at: Date.now() };
    const meta: AnswerMeta = { model: model.id, tokens: 0, notices: [], done: false };
    const answer: ModelTurn = { role: 'model', text: '', at: Date.now(), meta };
    const prompt = conversationPrompt([...this.turns, user]);
    this.turns = [...this.turns, user, answer];
    box.value = '';
    const stop = new AbortController();
    this.streaming = stop;
    const settings = { model: model.id, prompt, temperature: this.temperature, topK: this.topK, maxTokens: this.maxTokens };
    let started = false;
    try {
      let quoted = model;
      for (let attempt = 0; ; attempt++) {
        const fee = await signedChatFee(this.api, quoted, this.session.signingKey(), network);
        try {
          for await (const ev of streamChat({ ...settings, fee }, { token: this.session.token, signal: stop.signal })) {
            started = true;
            this.onEvent(ev, answer, meta);
          }
          break;
        } catch (err) {
          // The room changed since the fee was quoted (a span more): quote again and sign once more.
          if (started || attempt > 0 || !(err instanceof NodeError && err.code === 'FEE_TOO_LOW')) throw err;
          await this.pollModels();
          quoted = this.models?.find((m) => m.id === model.id) ?? model;
        }
      }
      if (!meta.done && !meta.problem) meta.problem = 'The answer ended before the node finished it.';
    } catch (err) {
      const problem =
        err instanceof NodeError
          ? chatProblem(err.code, err.message, err.status)
          : err instanceof InsufficientFeeError
            ? `An answer costs ${formatAlc(err.fee)} ALC and your account holds ${formatAlc(err.balance)} ALC. Earn some by mining or serving the model below, or receive ALC, then send again.`
            : problemText(err);
      if (!started && !stop.signal.aborted) {
        // Refused before any answer: the message is not part of the conversation; it goes back to the box.
        this.turns = this.turns.filter((t) => t !== user && t !== answer);
        box.value = text;
        this.problem = problem;
        if (err instanceof NodeError && err.code === 'UNKNOWN_MODEL') void this.pollModels();
      } else meta.problem = stop.signal.aborted ? 'Stopped before the end.' : problem;
    } finally {
      if (this.streaming === stop) this.streaming = undefined;
      this.turns = [...this.turns];
      this.save();
      if (started) void this.pollModels();
    }
  }

  static override styles = [
    baseStyles,
    css`
    .layout { display: grid; grid-template-columns: minmax(0, 2fr) minmax(260px, 1fr); gap: 1.25rem; align-items: start; margin-bottom: 1.25rem; }
    @media (max-width: 820px) { .layout { grid-template-columns: 1fr; } }
    .side { display: grid; gap: 1.25rem; }
    dl { display: grid; grid-template-columns: auto 1fr; gap: 0.3rem 0.9rem; margin: 0 0 0.75rem; font-size: 0.92rem; }
    dt { color: var(--muted); }
    dd { margin: 0; overflow-wrap: anywhere; }
    .servable { font-weight: 600; }
    .servable.yes { color: var(--success); }
    .servable.no { color: var(--warning); }
    ol.turns { list-style: none; padding: 0; margin: 0 0 1rem; display: grid; gap: 0.75rem; max-height: 32rem; overflow: auto; }
    ol.turns li { border-radius: 10px; padding: 0.6rem 0.8rem; }
    li.user { background: var(--accent-soft); margin-left: 3rem; }
    li.model { background: #f7f8fb; border: 1px solid var(--border); margin-right: 3rem; }
    .who { font-size: 0.8rem; font-weight: 600; color: var(--muted); margin-bottom: 0.2rem; }
    .text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; }
    .meta { font-size: 0.82rem; color: var(--muted); margin: 0.35rem 0 0; }
    .meta.notice { color: var(--warning); }
    .meta.problem { color: var(--danger); }
    .empty { color: var(--muted); margin: 0 0 1rem; }
    textarea { min-height: 5rem; resize: vertical; }
    fieldset { border: 0; padding: 0; margin: 0; display: grid; gap: 0.75rem; min-width: 0; }
    legend { font-size: 1.1rem; font-weight: 700; padding: 0; margin-bottom: 0.75rem; }
    .privacy { margin-bottom: 1.25rem; }
  `,
  ];

  private modelCard(): TemplateResult {
    const m = this.model;
    if (this.modelsProblem)
      return html`<section class="card"><p class="notice error" role="alert" data-testid="models-problem">${this.modelsProblem}</p></section>`;
    if (!this.models) return html`<section class="card"><p class="muted">Reading the models this node serves…</p></section>`;
    if (!m) return html`<section class="card"><p class="muted">This node serves no model now.</p></section>`;
    return html`<section class="card" aria-labelledby="model-title" data-testid="model">
      <h2 id="model-title">Model</h2>
      ${
        this.models.length > 1
          ? html`<label>Model <select data-testid="model-select" .value=${m.id} ?disabled=${!!this.streaming}
              @change=${(e: Event) => (this.modelId = (e.target as HTMLSelectElement).value)}>
              ${this.models.map((x) => html`<option value=${x.id}>${x.name}</option>`)}</select></label>`
          : ''
      }
      <dl>
        <dt>Name</dt><dd data-testid="model-name">${m.name}</dd>
        <dt>Version</dt><dd data-testid="model-version">${m.version === undefined ? 'imported checkpoint' : `v${m.version}`}</dd>
        <dt>Config</dt><dd data-testid="model-config">${m.config}</dd>
        <dt>Layers</dt><dd data-testid="model-layers">${m.layers} (width ${m.nEmbd})</dd>
        <dt>Parameters</dt><dd data-testid="model-params">${formatParams(m.params)}</dd>
        <dt>Context</dt><dd>${m.contextTokens} tokens</dd>
        <dt>Contributors</dt><dd data-testid="model-contributors">${m.contributors}</dd>
        <dt>Spans served</dt><dd data-testid="model-spans">${m.spans.length ? m.spans.map((s) => `layers ${spanText(s)}`).join(', ') : 'none'}</dd>
        <dt>Cost</dt><dd data-testid="model-fee">${alcText(m.requestFee)} ALC an answer</dd>
      </dl>
      <p class="muted" data-testid="fee-explained">Each answer pays this node's coordinator ${alcText(m.requestFee)} ALC from your account
        before the room computes it (the payment must reach a block first, a second or two). The coordinator pays each
        contributor whose span served it ${alcText(m.inferenceShare)} ALC and refunds the rest: a span whose holder left or
        failed, or an answer that failed. So no one earns by chatting with themselves.</p>
      <p class="servable ${m.servable ? 'yes' : 'no'}" data-testid="model-servable">${
        m.servable
          ? `Servable: every layer is held (${m.spans.length} span${m.spans.length === 1 ? '' : 's'}).`
          : 'Not servable now: some layers have no contributor. Contributors can join below.'
      }</p>
      ${
        m.version !== undefined && m.config !== PRODUCTION_CONFIG
          ? html`<p class="notice warn" data-testid="devnet-notice">This devnet serves a small test model (${m.config}, not ${PRODUCTION_CONFIG}); its answers are not meaningful text.</p>`
          : ''
      }
    </section>`;
  }

  private settings(): TemplateResult {
    const onInput = (e: Event): void => {
      const form = (e.target as HTMLElement).closest('fieldset')!;
      const get = (name: string): HTMLInputElement => form.querySelector(`input[name=${name}]`)!;
      const t = setting(get('temperature'), 0, CHAT_LIMITS.maxTemperature, false);
      const k = setting(get('topK'), 0, CHAT_LIMITS.maxTopK, true);
      const n = setting(get('maxTokens'), 1, CHAT_LIMITS.maxTokens, true);
      if (t !== undefined) this.temperature = t;
      if (k !== undefined) this.topK = k;
      if (n !== undefined) this.maxTokens = n;
      const bad = [
        t === undefined ? `temperature from 0 to ${CHAT_LIMITS.maxTemperature}` : '',
        k === undefined ? `top-k a whole number from 0 to ${CHAT_LIMITS.maxTopK}` : '',
        n === undefined ? `max tokens a whole number from 1 to ${CHAT_LIMITS.maxTokens}` : '',
      ].filter(Boolean);
      this.settingsProblem = bad.length ? `Set ${bad.join('; ')}.` : undefined;
    };
    return html`<fieldset @input=${onInput} data-testid="sampling">
      <legend>Sampling</legend>
      <label>Temperature <input name="temperature" type="number" min="0" max=${CHAT_LIMITS.maxTemperature} step="0.1" .value=${String(this.temperature)} />
        <span class="hint">0 always picks the most likely token; default ${CHAT_DEFAULTS.temperature}, at most ${CHAT_LIMITS.maxTemperature}.</span></label>
      <label>Top-k <input name="topK" type="number" min="0" max=${CHAT_LIMITS.maxTopK} step="1" .value=${String(this.topK)} />
        <span class="hint">Sample among the k most likely tokens; 0 for no cut. Default ${CHAT_DEFAULTS.topK}.</span></label>
      <label>Max tokens <input name="maxTokens" type="number" min="1" max=${CHAT_LIMITS.maxTokens} step="1" .value=${String(this.maxTokens)} />
        <span class="hint">Length of the answer; default ${CHAT_DEFAULTS.maxTokens}, at most ${CHAT_LIMITS.maxTokens}.</span></label>
      ${this.settingsProblem ? html`<p class="field-error" role="alert">${this.settingsProblem}</p>` : ''}
    </fieldset>`;
  }

  private turn(t: Turn, last: boolean): TemplateResult {
    if (t.role === 'user') return html`<li class="user"><div class="who">You</div><p class="text">${t.text}</p></li>`;
    const m = t.meta;
    const waiting = last && this.streaming && m.tokens === 0 && !m.problem;
    const done = m.done
      ? [
          `${m.tokens} token${m.tokens === 1 ? '' : 's'}`,
          m.contributors !== undefined ? `served by ${m.contributors} contributor${m.contributors === 1 ? '' : 's'}` : '',
          m.checked ? "outputs checked by the node's recomputation" : '',
          m.fee !== undefined ? `cost ${alcText(m.fee)} ALC` : '',
        ]
          .filter(Boolean)
          .join(' · ')
      : '';
    return html`<li class="model" data-testid=${last ? 'answer' : 'past-answer'}>
      <div class="who">Ailo (${m.model}${m.version === undefined ? '' : ` v${m.version}`})</div>
      ${waiting ? html`<p class="muted">Waiting for the room…</p>` : ''}
      <p class="text" data-testid="answer-text">${t.text}</p>
      ${m.notices.map((n) => html`<p class="meta notice" data-testid="answer-notice">${n}</p>`)}
      ${m.done ? html`<p class="meta" data-testid="answer-done">Done: ${done}.</p>` : ''}
      ${m.problem ? html`<p class="meta problem" data-testid="answer-problem">${m.problem}</p>` : ''}
    </li>`;
  }

  override render(): TemplateResult {
    const model = this.model;
    return html`
      <h1 tabindex="-1">Chat</h1>
      <p class="lead">Talk to the network's model. Its layers are held by contributors' browsers and machines; the node passes your
        conversation through them and streams the answer back.</p>
      <p class="notice info privacy" data-testid="privacy">Training sends no raw data. Chat is different: your messages go to the node,
        and the hidden states of your conversation pass through the browsers and machines that hold the model's layers.
        Those states are not a disguise: whoever holds the first layers can read your words back from them, so do not
        write here what you would not show the contributors. The conversation itself is kept only in this browser.</p>
      <div class="layout">
        <section class="card" aria-labelledby="conv-title">
          <h2 id="conv-title">Conversation</h2>
          ${
            this.turns.length
              ? html`<ol class="turns" role="log" aria-live="polite" data-testid="turns">${this.turns.map((t, i) => this.turn(t, i === this.turns.length - 1))}</ol>`
              : html`<p class="empty">No messages yet. What you write here, and the answers, stay in this browser.</p>`
          }
          <form @submit=${this.send} data-testid="chat-form">
            <label>Message
              <textarea name="message" maxlength=${CHAT_LIMITS.maxPromptChars - 16} data-testid="chat-input" required
                @keydown=${(e: KeyboardEvent) => {
                  if (e.key === 'Enter' && !e.shiftKey) {
                    e.preventDefault();
                    (e.target as HTMLTextAreaElement).form?.requestSubmit();
                  }
                }}></textarea>
              <span class="hint">Enter sends, Shift+Enter starts a new line. The whole conversation so far is sent as the prompt.</span></label>
            ${
              this.session.unlocked
                ? ''
                : html`<label>Password <input name="password" type="password" autocomplete="current-password" required data-testid="chat-password" />
                  <span class="hint">Each answer's fee is signed with your wallet key, which a page reload locks: your password unlocks it for this visit.</span></label>`
            }
            ${this.problem ? html`<p class="notice error" role="alert" data-testid="chat-problem">${this.problem}</p>` : ''}
            <div class="actions">
              <button type="submit" data-testid="chat-send" ?disabled=${!!this.streaming || !model}>${this.streaming ? 'Answering…' : 'Send'}</button>
              ${this.streaming ? html`<button type="button" class="secondary" @click=${() => this.streaming?.abort()}>Stop</button>` : ''}
              <button type="button" class="danger" data-testid="chat-clear" ?disabled=${this.turns.length === 0}
                @click=${() => this.clear()}>Clear conversation</button>
            </div>
          </form>
        </section>
        <div class="side">
          ${this.modelCard()}
          <section class="card">${this.settings()}</section>
        </div>
      </div>
      <ailo-serve-panel .session=${this.session} .chainId=${this.chainId} .genesisHash=${this.genesisHash} .model=${model}
        .share=${this.share}></ailo-serve-panel>
    `;
  }
}

customElements.define('ailo-chat-page', AiloChatPage);
