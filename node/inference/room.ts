/**
 * An inference room in the manner of Petals (Borzunov et al. 2023): contributors each hold a span [start, end) of
 * consecutive blocks of one model; the node embeds the tokens, relays the hidden states through the spans in layer
 * order, applies the final LayerNorm and the tied head itself, and samples. Each contributor keeps its span's KV cache
 * per conversation (`session`), so a new token costs one pass of one row per span.
 *
 * Trust: a contributor's output is checked by recomputation on the node (which holds the weights): a sample of
 * requests (`checkRate`), and always before a contributor's escrowed rewards would exceed `maxEscrow` requests or when
 * it leaves. Every row it returned in the checked request is compared with the node's own result for the inputs it
 * was sent. A contributor whose rows are wrong loses every reward it holds in escrow, is removed from the room and the
 * check is logged; the others are paid. Honest rewards are never lost: escrow is paid out at the contributor's next
 * passed check, which its departure also triggers.
 */
import { keccak256 } from '../../protocol/keccak.js';
import { toHex, type Hex } from '../../protocol/bytes.js';
import { encodeHiddenFrame, type HiddenHeader, type InferenceModel, type NodeMessage } from '../../protocol/inference.js';
import type { ModelConfig } from '../../trainer/model/config.js';
import { numel, paramCount } from '../../trainer/model/config.js';
import { blockParamSpecs } from '../../trainer/onnx/graphs.js';
import type { Weights } from '../../trainer/model/weights.js';
import type { EmbedHead, SpanRunner, Span } from '../../trainer/inference/span-runner.js';

/** What a room serves: the model's config and weights (the node embeds, applies the head and checks spans). */
export interface RoomModel {
  id: string;
  name: string;
  /** The network model's version; absent for an imported checkpoint. */
  version?: number;
  configName: string;
  cfg: ModelConfig;
  weights: Weights;
}

/** The node-side compute a room needs (onnxruntime sessions over the model's weights). */
export interface RoomCompute {
  embedHead(): Promise<EmbedHead>;
  /** A span runner of the node's own, for checks (cached per span by the caller). */
  spanRunner(span: Span): Promise<SpanRunner>;
}

/** How the room talks to one contributor (a WebSocket in production). */
export interface ContributorChannel {
  sendJson(msg: NodeMessage): void;
  sendBinary(frame: Uint8Array): void;
  close(code: string, message: string): void;
}

export interface RoomOptions {
  /** How long a span may take to answer a forward of several rows (a prompt, or a recomputed window) (ms). */
  stepTimeoutMs: number;
  /** How long a span may take to answer one new token's row (ms); a slower one is replaced by a standby. */
  tokenTimeoutMs: number;
  /** How long a whole request may take (ms); past it the answer ends with ROOM_TOO_SLOW and pays no one. */
  requestTimeoutMs: number;
  /**
   * The most contributors a request pays: each contributor holds at least ceil(layers / maxSpans) layers (fewer
   * only where the gap left is smaller), so splitting one machine's layers among many wallets earns no more.
   */
  maxSpans: number;
  /** How long a request waits for a freed span to be taken again before it fails (ms). */
  reassignWaitMs: number;
  /** How long an assigned contributor may take to load its span before its layers go to another (ms). */
  loadTimeoutMs: number;
  /** Share of requests checked by recomputation (0..1). */
  checkRate: number;
  /** A contributor's unchecked requests before its next one is checked regardless of the draw. */
  maxEscrow: number;
  /** Tolerance of a checked row: its relative L2 error, ||answered - recomputed|| <= tolerance * ||recomputed||. */
  tolerance: number;
  random: () => number;
  log: (line: string) => void;
  /** A member's rows failed a check (it is removed, its escrow forfeited): the service bars its wallet a while. */
  onCaught?: (wallet: string) => void;
}

export const DEFAULT_ROOM_OPTIONS: Omit<RoomOptions, 'random' | 'log'> = {
  stepTimeoutMs: 30_000,
  tokenTimeoutMs: 10_000,
  requestTimeoutMs: 5 * 60_000,
  maxSpans: 8,
  reassignWaitMs: 20_000,
  loadTimeoutMs: 10 * 60_000,
  checkRate: 0.25,
  maxEscrow: 8,
  tolerance: 1e-4,
};

/** A room as GET /api/inference/models shows it, less what the service adds (its fee). */
export type RoomView = Omit<InferenceModel, 'requestFee' | 'inferenceShare' | 'feeTo'>;

/** A reward the room owes: one request, one contributor, its span. */
export interface OwedReward {
  wallet: string;
  request: Hex;
  span: Span;
}

/** One window of one request as one member saw it: the rows it was sent and the rows it answered, by position. */
interface WindowRecord {
  inputs: Float32Array[];
  outputs: Float32Array[];
}

/** One contributor in the room. */
export class Member {
  span: Span | undefined;
  ready = false;
  left = false;
  caught = false;
  /** Rewards held until this member's next passed check. */
  escrow: { request: Hex; span: Span }[] = [];
  /**
   * The rows of one escrowed request, drawn uniformly among them (reservoir sampling, Vitter 1985): what a check of
   * the escrow recomputes; the node keeps one request's rows per member, not all of them.
   */
  kept: { span: Span; records: WindowRecord[] } | undefined;
  /** Running while the member loads its span. */
  loading: ReturnType<typeof setTimeout> | undefined;
  /** Counts the member's assignments: a `ready` must name the latest (protocol/inference.ts). */
  assignment = 0;
  /** Requests this member answered rows of that are not settled yet. */
  inFlight = 0;
  /** It left while requests it served were unsettled: its escrow is settled once they are. */
  departurePending = false;
  private nextId = 1;
  /** The member's forwards run one at a time: each one's timer starts when the one before it is answered. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly waiting = new Map<
    number,
    {
      session: string;
      rows: number;
      /** The largest magnitude in the rows sent: what bounds an honest answer's. */
      inputMax: number;
      resolve: (v: Float32Array) => void;
      reject: (e: Error) => void;
      timer: ReturnType<typeof setTimeout>;
    }
  >();

  constructor(
    readonly id: string,
    readonly wallet: string,
    readonly maxLayers: number,
    readonly channel: ContributorChannel,
    readonly agent: string,
  ) {}

  /**
   * Sends rows to the member's span and waits for its answer; rejects on timeout or departure. Forwards to one member
   * go one at a time (a contributor answers them in turn), so a busy contributor is not timed out for the queue.
   */
  forward(session: string, start: number, rows: number, hidden: Float32Array, timeoutMs: number): Promise<Float32Array> {
    const run = (): Promise<Float32Array> => {
      if (this.left) return Promise.reject(new MemberFailure(this, 'TIMEOUT', 'left'));
      const id = this.nextId++;
      const header: HiddenHeader = { kind: 'forward', id, session, start, rows };
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          this.waiting.delete(id);
          reject(new MemberFailure(this, 'TIMEOUT', `did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        this.waiting.set(id, { session, rows, inputMax: maxAbs(hidden), resolve, reject, timer });
        this.channel.sendBinary(encodeHiddenFrame(header, hidden));
      });
    };
    const result = this.queue.then(run, run);
    this.queue = result.catch(() => {});
    return result;
  }

  /** Adds a served request to the escrow, keeping its rows with probability 1/(escrow size). */
  hold(request: Hex, span: Span, records: WindowRecord[], random: () => number): void {
    this.escrow.push({ request, span });
    if (!this.kept || random() * this.escrow.length < 1) this.kept = { span, records };
  }

  /**
   * A result frame from the member; the reason it is refused when it answers nothing that was asked of it (a forward
   * never sent, already answered, or for another session or row count): a protocol violation.
   */
  answer(header: HiddenHeader, values: Float32Array): string | undefined {
    const w = this.waiting.get(header.id);
    if (header.kind !== 'result') return `a contributor sends results, not ${header.kind} frames`;
    if (!w) return `result ${header.id} answers no forward this node sent to this contributor (or one already answered)`;
    if (w.session !== header.session || w.rows !== header.rows)
      return `result ${header.id} names session ${header.session.slice(0, 20)} with ${header.rows} rows; forward ${header.id} was ${w.session.slice(0, 20)} with ${w.rows}`;
    this.waiting.delete(header.id);
    clearTimeout(w.timer);
    // Rows no honest span returns: a non-finite value, or one far beyond what it was sent (a block adds to the
    // residual stream a bounded amount). Relayed on, they would make the honest spans after it fail their checks.
    const bound = 2 * w.inputMax + HIDDEN_SLACK;
    const out = maxAbs(values);
    if (!(out <= bound))
      w.reject(new MemberFailure(this, 'WRONG_OUTPUT', `answered a value of magnitude ${out} for inputs of at most ${w.inputMax}`));
    else w.resolve(values);
    return undefined;
  }

  /** Fails every forward in flight (the member left or was removed). */
  abort(reason: string): void {
    this.left = true;
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(new MemberFailure(this, 'TIMEOUT', reason));
    }
    this.waiting.clear();
  }
}

/** The absolute slack of an answer's magnitude bound (2 x the largest input magnitude + this). */
const HIDDEN_SLACK = 1e4;

/** The largest magnitude in `x`; NaN when it holds a NaN. */
function maxAbs(x: Float32Array): number {
  let m = 0;
  for (const v of x) {
    const a = Math.abs(v);
    if (!(a <= m)) m = a; // a NaN sticks
    if (Number.isNaN(m)) return NaN;
  }
  return m;
}

/**
 * A member failed a forward: it left or did not answer in time (TIMEOUT), answered rows no honest span returns
 * (WRONG_OUTPUT: non-finite, or out of bounds), or answered the wrong number of rows (BAD_FRAME). The request removes
 * it with that code and waits for its span to be held again.
 */
export class MemberFailure extends Error {
  override name = 'MemberFailure';
  constructor(
    readonly member: Member,
    readonly code: 'TIMEOUT' | 'WRONG_OUTPUT' | 'BAD_FRAME',
    message: string,
  ) {
    super(`contributor ${member.id} ${message}`);
  }
}

/** A request's failure the chat route answers by name. */
export class RoomError extends Error {
  override name = 'RoomError';
  constructor(
    readonly code: 'ROOM_LOST' | 'ROOM_TOO_SLOW',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The contributors of one model and the spans they hold. Spans partition the layers: a joining contributor takes
 * the first layers no one holds (up to its `maxLayers`); one that finds every layer held waits as a standby and takes
 * a span that is freed.
 */
export class InferenceRoom {
  private readonly members = new Map<string, Member>();
  private readonly watchers = new Set<() => void>();
  /** Closed for good (the node is stopping): no chain is waited for. */
  private closed = false;

  constructor(
    readonly model: RoomModel,
    readonly compute: RoomCompute,
    readonly opts: RoomOptions,
  ) {}

  get layers(): number {
    return this.model.cfg.n_layer;
  }

  /** The fewest layers a contributor must offer to hold (see RoomOptions.maxSpans). */
  get minSpanLayers(): number {
    return Math.ceil(this.layers / this.opts.maxSpans);
  }

  list(): Member[] {
    return [...this.members.values()];
  }

  /** Adds a member and gives it a span if one is free. */
  join(member: Member): void {
    this.members.set(member.id, member);
    this.assignFree();
  }

  /** The member's span weights are loaded (`assignment`: the one its `ready` names): it serves from now on. */
  ready(member: Member, assignment = member.assignment): void {
    // A ready for an earlier assignment (another span or version) says nothing about the current one.
    if (!this.members.has(member.id) || !member.span || assignment !== member.assignment) return;
    clearTimeout(member.loading);
    member.ready = true;
    this.opts.log(
      `inference: ${member.id} (${member.wallet}) serves layers ${member.span.start}..${member.span.end - 1} of ${this.model.id}`,
    );
    this.notify();
  }

  /** Removes a member (it left, or was removed); its span goes to a standby if there is one. */
  leave(member: Member, reason: string): void {
    if (!this.members.delete(member.id)) return;
    member.left = true;
    member.ready = false;
    clearTimeout(member.loading);
    member.abort(reason);
    this.opts.log(`inference: ${member.id} left ${this.model.id}: ${reason}`);
    this.assignFree();
    this.notify();
  }

  /** The ready members covering every layer in order, or undefined while a layer has none. */
  chain(): Member[] | undefined {
    const out: Member[] = [];
    let layer = 0;
    while (layer < this.layers) {
      const m = this.list().find((x) => x.ready && x.span?.start === layer);
      if (!m) return undefined;
      out.push(m);
      layer = m.span!.end;
    }
    return out;
  }

  /**
   * How many contributors a request served now would pay: the spans of the serving chain (at most `maxSpans`; 1 when
   * no chain serves yet). A request's fee is this many `inferenceShare`s.
   */
  payableSpans(): number {
    return Math.min(this.opts.maxSpans, Math.max(1, this.chain()?.length ?? 1));
  }

  /** The first layer no ready member holds (for messages), or undefined when servable. */
  firstUnheld(): number | undefined {
    let layer = 0;
    while (layer < this.layers) {
      const m = this.list().find((x) => x.ready && x.span?.start === layer);
      if (!m) return layer;
      layer = m.span!.end;
    }
    return undefined;
  }

  view(): RoomView {
    const spans = this.list()
      .filter((m) => m.ready && m.span)
      .map((m) => ({ ...m.span! }))
      .sort((a, b) => a.start - b.start);
    const cfg = this.model.cfg;
    return {
      id: this.model.id,
      name: this.model.name,
      ...(this.model.version === undefined ? {} : { version: this.model.version }),
      config: this.model.configName,
      layers: cfg.n_layer,
      nEmbd: cfg.n_embd,
      params: paramCount(cfg),
      contextTokens: cfg.n_positions,
      layerBytes: 4 * blockParamSpecs(cfg).reduce((n, p) => n + numel(p.shape), 0),
      servable: this.chain() !== undefined,
      contributors: this.members.size,
      spans,
    };
  }

  /** Waits until a chain covers every layer, at most `ms`; undefined if none came. */
  async waitForChain(ms: number): Promise<Member[] | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.closed) return undefined;
      const chain = this.chain();
      if (chain || Date.now() >= deadline) return chain;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.watchers.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.max(1, deadline - Date.now()));
        this.watchers.add(done);
      });
    }
  }

  private notify(): void {
    for (const w of [...this.watchers]) w();
  }

  /** Gives free layers to members without a span, first come first served. */
  private assignFree(): void {
    for (const m of this.list()) {
      if (m.span) continue;
      const gap = this.firstGap();
      if (!gap) return;
      m.span = { start: gap.start, end: Math.min(gap.end, gap.start + m.maxLayers) };
      m.ready = false;
      m.assignment++;
      m.channel.sendJson({
        assignment: m.assignment,
        type: 'assign',
        model: this.model.id,
        ...(this.model.version === undefined ? {} : { version: this.model.version }),
        start: m.span.start,
        end: m.span.end,
        contributorId: m.id,
      });
      this.opts.log(`inference: ${m.id} assigned layers ${m.span.start}..${m.span.end - 1} of ${this.model.id}`);
      clearTimeout(m.loading);
      m.loading = setTimeout(
        () =>
          this.remove(
            m,
            'TIMEOUT',
            `layers ${m.span!.start}..${m.span!.end - 1} were not loaded within ${this.opts.loadTimeoutMs / 1000} s`,
          ),
        this.opts.loadTimeoutMs,
      );
    }
  }

  /** The first run of layers no member (ready or loading) holds. */
  private firstGap(): Span | undefined {
    const held = new Array<boolean>(this.layers).fill(false);
    for (const m of this.members.values()) if (m.span) for (let l = m.span.start; l < m.span.end; l++) held[l] = true;
    const start = held.indexOf(false);
    if (start < 0) return undefined;
    let end = start;
    while (end < this.layers && !held[end]) end++;
    return { start, end };
  }

  /**
   * A hidden-state pipeline for one request (`session`): runs the current chain on rows at positions start..;
   * when a span's holder fails, waits for the span to be held again, then re-runs the whole window so far through
   * the new chain from position 0 (every holder recomputes its cache for the prefix) and carries on. Records, per
   * member, what it was sent and answered, for the checks.
   */
  pipeline(session: string, onNotice: (message: string) => void, slots?: Span[]): RequestPipeline {
    return new RequestPipeline(this, session, onNotice, slots);
  }

  /** The spans of the chain that would serve a request now (empty when none does): the slots a fee quoted now prices. */
  slotsNow(): Span[] {
    return (this.chain() ?? []).map((m) => ({ ...m.span! }));
  }

  /**
   * Settles a request, finished or failed. With probability `checkRate` this request is checked: every row each member
   * answered is recomputed (`checked` in the answer), plus one random earlier request of each member's escrow.
   * Otherwise each member's escrow is checked once it holds `maxEscrow` requests (one kept request, drawn uniformly).
   * A member that passes is paid its whole escrow; one that fails loses it and is removed.
   *
   * Who the request pays: one member per slot of the chain it started on (`RequestPipeline.slots`,
   * what its fee priced), at most `payable` slots (what the fee bought; the longest slots first). A slot's reward goes
   * to the member that stayed to the end and holds the most of the slot's layers: where a holder left and others took
   * its layers over, they share its one slot, so splitting a freed span earns no more and never crowds out a holder
   * that stayed. Members that left, that were caught, or whose wallet is `requester`'s (serving your own requests
   * earns nothing) are not paid; the rows of every member are checked all the same when the request is drawn (always
   * for one that left), so the answer says whether wrong rows went into it (`caught`). `paid` counts the payees that
   * passed this settle's checks (or wait in escrow): the rewards this request mints.
   */
  async settle(
    p: RequestPipeline,
    request: Hex,
    requester: string,
    payable: number,
  ): Promise<{ owed: OwedReward[]; checked: boolean; caught: Member[]; paid: number }> {
    const self = requester.toLowerCase();
    const caught: Member[] = [];
    const owed: OwedReward[] = [];
    const draw = this.opts.random() < this.opts.checkRate;
    const servers = p.servers().filter((m) => !m.caught);
    const payees = payeesOf(
      p,
      servers.filter((m) => !m.left && m.wallet.toLowerCase() !== self),
      Math.min(payable, this.opts.maxSpans),
    );
    for (const m of servers) {
      const span = p.spanOf(m)!;
      const records = p.records(m);
      if (!payees.has(m)) {
        if (m.wallet.toLowerCase() === self)
          this.opts.log(`inference: ${m.id} served its own wallet's request ${request.slice(0, 10)}: no reward`);
        else if (!m.left)
          this.opts.log(
            `inference: ${m.id} unpaid for request ${request.slice(0, 10)}: each slot pays the one contributor holding most of it (the fee paid ${payable} slot(s))`,
          );
        // Its rows are in the answer: check them when this request is checked, and always for one that left with them.
        if ((draw || m.left) && !(await this.checkRows(span, records))) caught.push(m);
        continue;
      }
      m.hold(request, span, records, this.opts.random);
      let passed = true;
      if (draw) passed = (await this.checkRows(span, records)) && (m.escrow.length === 1 || (await this.checkKept(m)));
      else if (m.escrow.length >= this.opts.maxEscrow) passed = await this.checkKept(m);
      else continue;
      if (passed) owed.push(...this.release(m));
      else caught.push(m);
    }
    const paid = [...payees].filter((m) => !caught.includes(m)).length;
    for (const m of caught) {
      if (m.left) {
        if (!m.caught) this.opts.onCaught?.(m.wallet);
        m.caught = true;
        m.escrow = [];
        m.kept = undefined;
        this.opts.log(`inference: check failed: ${m.id} (${m.wallet}) left with wrong rows in request ${request.slice(0, 10)}; unpaid`);
      } else this.remove(m, 'WRONG_OUTPUT', `rows for request ${request.slice(0, 10)} differ from the node's recomputation`);
    }
    owed.push(...(await this.release_(p)));
    return { owed, checked: draw, caught, paid };
  }

  /** The request is settled for its members; those that left meanwhile have their escrow settled now. */
  private async release_(p: RequestPipeline): Promise<OwedReward[]> {
    const owed: OwedReward[] = [];
    for (const m of p.servers()) {
      m.inFlight--;
      if (m.left && m.departurePending && m.inFlight === 0) {
        m.departurePending = false;
        owed.push(...(await this.settleDeparture(m)));
      }
    }
    return owed;
  }

  /** A departing member's escrow: its kept request checked, all paid if that passes. */
  async settleDeparture(m: Member, now = false): Promise<OwedReward[]> {
    // Rows of a request still running are checked when it is settled; the escrow waits for that (a cheater cannot
    // collect its escrow by leaving in the middle of the request it altered).
    if (m.inFlight > 0 && !now) {
      m.departurePending = true;
      return [];
    }
    if (m.escrow.length === 0 || m.caught) return [];
    if (await this.checkKept(m)) return this.release(m);
    m.caught = true;
    this.opts.onCaught?.(m.wallet);
    this.opts.log(
      `inference: ${m.id} (${m.wallet}) left with wrong rows on record; its ${m.escrow.length} escrowed reward(s) are forfeited`,
    );
    m.escrow = [];
    m.kept = undefined;
    return [];
  }

  /**
   * Every member's escrow settled (the room is retired: a new model version, or the node is stopping); returns what
   * to pay. `now`: settle those still serving a request too, on their kept request (the node is stopping: the
   * requests in flight will not finish, and pay no one).
   */
  async settleAll(members: Member[] = this.list(), now = false): Promise<OwedReward[]> {
    const owed: OwedReward[] = [];
    for (const m of members) owed.push(...(await this.settleDeparture(m, now)));
    return owed;
  }

  /** Checks the member's kept escrowed request. */
  private checkKept(m: Member): Promise<boolean> {
    return m.kept ? this.checkRows(m.kept.span, m.kept.records) : Promise.resolve(true);
  }

  private release(m: Member): OwedReward[] {
    const out = m.escrow.map((e) => ({ wallet: m.wallet, request: e.request, span: e.span }));
    m.escrow = [];
    m.kept = undefined;
    return out;
  }

  /** Removes a member for cause, telling it why. */
  remove(m: Member, code: string, message: string): void {
    const caughtNow = code === 'WRONG_OUTPUT' && !m.caught;
    m.caught = code === 'WRONG_OUTPUT' || m.caught;
    if (caughtNow) this.opts.onCaught?.(m.wallet);
    if (m.caught) {
      this.opts.log(`inference: check failed: ${m.id} (${m.wallet}) ${message}; removed, ${m.escrow.length} escrowed reward(s) forfeited`);
      m.escrow = [];
      m.kept = undefined;
    }
    try {
      m.channel.sendJson({ type: 'closing', code, message });
      m.channel.close(code, message);
    } catch {
      // Already gone.
    }
    this.leave(m, `${code}: ${message}`);
  }

  /** Recomputes each window a member served on `span` on the node and compares every row it answered. */
  private async checkRows(span: Span, records: WindowRecord[]): Promise<boolean> {
    const runner = await this.compute.spanRunner(span);
    const C = this.model.cfg.n_embd;
    for (const w of records) {
      if (w.inputs.length === 0) continue;
      const inputs = concatRows(w.inputs);
      const rows = inputs.length / C;
      const check = `check-${Math.floor(this.opts.random() * 1e12)}`;
      let expected: Float32Array;
      try {
        expected = await runner.forward(check, inputs, 0);
      } finally {
        runner.drop(check);
      }
      const got = concatRows(w.outputs);
      if (got.length !== rows * C) return false;
      for (let r = 0; r < rows; r++) {
        const e = expected.subarray(r * C, (r + 1) * C);
        const g = got.subarray(r * C, (r + 1) * C);
        // Relative L2 error of the row: float differences between providers are far below it, while an alteration
        // spread over many dimensions (under a per-value bound set by one outlier) is not.
        let diff = 0;
        let norm = 0;
        for (let i = 0; i < C; i++) {
          diff += (g[i]! - e[i]!) ** 2;
          norm += e[i]! ** 2;
        }
        // The node's own result is not finite: the rows the member was sent were not sane, which is not its fault.
        if (!Number.isFinite(norm)) continue;
        if (!(Math.sqrt(diff) <= this.opts.tolerance * Math.max(Math.sqrt(norm), 1e-6))) return false;
      }
    }
    return true;
  }

  /** Retires the room (its model moved to a new version): its members' timers stop and they serve it no more. */
  retire(): void {
    for (const m of this.list()) {
      clearTimeout(m.loading);
      m.ready = false;
      m.abort('the room moved to a new model version');
    }
    this.members.clear();
  }

  /** Closes every member (the node is stopping). */
  /** Closes every member (the node is stopping); requests waiting for a chain give up at once. */
  close(): void {
    this.closed = true;
    for (const m of this.list()) this.remove(m, 'NODE_STOPPING', 'the node is stopping');
    this.notify();
  }
}

const spanLength = (s: Span): number => s.end - s.start;
const overlap = (a: Span, b: Span): number => Math.max(0, Math.min(a.end, b.end) - Math.max(a.start, b.start));

/**
 * The members `eligible` a request pays: for each of its slots (the longest `limit` of them), the eligible member
 * whose span overlaps the slot most (its span on this request; ties go to the first to serve). A member is paid for
 * one slot at most: the one it overlaps most.
 */
function payeesOf(p: RequestPipeline, eligible: Member[], limit: number): Set<Member> {
  const slots = [...p.slots].sort((a, b) => spanLength(b) - spanLength(a)).slice(0, Math.max(0, limit));
  const best = new Map<Span, Member>();
  for (const m of eligible) {
    const span = p.spanOf(m)!;
    // The slot this member overlaps most; only there can it be paid.
    let home: Span | undefined;
    for (const s of slots) if (overlap(span, s) > 0 && (!home || overlap(span, s) > overlap(span, home))) home = s;
    if (!home) continue;
    const held = best.get(home);
    if (!held || overlap(span, home) > overlap(p.spanOf(held)!, home)) best.set(home, m);
  }
  return new Set(best.values());
}

function concatRows(rows: Float32Array[]): Float32Array {
  const out = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
  let o = 0;
  for (const r of rows) {
    out.set(r, o);
    o += r.length;
  }
  return out;
}

/** One request's path through the room (see InferenceRoom.pipeline). */
export class RequestPipeline {
  /** The window's rows at layer 0 (the embeddings), for re-running it through a new chain. */
  private windowRows: Float32Array[] = [];
  private current: Member[] | undefined;
  private hadChain = false;
  private readonly byMember = new Map<Member, WindowRecord[]>();
  /** The span each member served this request on (the one it held at its first answer). */
  private readonly spans = new Map<Member, Span>();
  private readonly deadline: number;
  /** Time each member took answering this request's forwards (ms). */
  private readonly elapsed = new Map<Member, number>();
  /**
   * The slots the request's fee priced: the spans of the chain when the fee was checked (`InferenceRoom.slotsNow`),
   * or else of the first chain that served it. Contributors that take over a slot (its holder left, even before the
   * first forward) share that slot's one reward; they do not compete with the holders of the other slots.
   */
  slots: Span[];

  constructor(
    private readonly room: InferenceRoom,
    readonly session: string,
    private readonly onNotice: (message: string) => void,
    slots: Span[] = [],
  ) {
    this.slots = slots.map((s) => ({ ...s }));
    this.deadline = Date.now() + room.opts.requestTimeoutMs;
  }

  /** Members that answered any row of this request. */
  servers(): Member[] {
    return [...this.byMember.keys()];
  }

  spanOf(m: Member): Span | undefined {
    return this.spans.get(m);
  }

  records(m: Member): WindowRecord[] {
    return this.byMember.get(m) ?? [];
  }

  /** Runs the rows (positions start..) through every span; returns the last span's output rows. */
  async run(hidden: Float32Array, rows: number, start: number): Promise<Float32Array> {
    const C = this.room.model.cfg.n_embd;
    if (start === 0) this.windowRows = [];
    // Rows of the window before `start` are on record: a new chain can recompute its caches from them.
    this.windowRows.push(hidden.slice());
    let fresh = start === 0;
    for (let attempt = 0; ; attempt++) {
      if (Date.now() > this.deadline) {
        // The slowest contributor of the request goes: otherwise one answering just inside the token timeout could
        // hold every request of the room past its deadline.
        const slowest = [...this.elapsed].sort((a, b) => b[1] - a[1])[0]?.[0];
        if (slowest && !slowest.left)
          this.room.remove(slowest, 'TIMEOUT', `the slowest span of a request that ran past ${this.room.opts.requestTimeoutMs / 1000} s`);
        throw new RoomError('ROOM_TOO_SLOW', `the room took longer than ${this.room.opts.requestTimeoutMs / 1000} s for this answer`);
      }
      const chain =
        this.current && this.current.every((m) => m.ready && !m.left)
          ? this.current
          : await this.room.waitForChain(this.room.opts.reassignWaitMs);
      if (!chain) {
        const layer = this.room.firstUnheld() ?? 0;
        throw new RoomError(
          'ROOM_LOST',
          `no contributor took over layer ${layer} of ${this.room.model.id} within ${this.room.opts.reassignWaitMs / 1000} s`,
        );
      }
      const changed = this.current !== chain;
      if (!this.hadChain && this.slots.length === 0) this.slots = chain.map((m) => ({ ...m.span! }));
      if (changed && this.hadChain)
        this.onNotice('a contributor left; its layers moved to another, which recomputes the conversation so far');
      this.current = chain;
      this.hadChain = true;
      // A new chain starts the window over: all rows so far, from position 0.
      const replay = changed && !fresh;
      const input = replay ? concatRows(this.windowRows) : hidden;
      const inputStart = replay ? 0 : start;
      try {
        let x = input;
        for (const m of chain) {
          const n = x.length / C;
          const began = Date.now();
          const out = await m.forward(
            this.session,
            inputStart,
            n,
            x,
            n === 1 ? this.room.opts.tokenTimeoutMs : this.room.opts.stepTimeoutMs,
          );
          this.elapsed.set(m, (this.elapsed.get(m) ?? 0) + Date.now() - began);
          if (out.length !== x.length) throw new MemberFailure(m, 'BAD_FRAME', `answered ${out.length / C} rows for ${x.length / C}`);
          this.record(m, inputStart, x, out);
          x = out;
        }
        return replay ? x.slice(x.length - rows * C) : x;
      } catch (err) {
        // The holder that failed is dropped from the room; the request waits for its span to be held again.
        if (!(err instanceof MemberFailure)) throw err;
        if (!err.member.left) this.room.remove(err.member, err.code, err.message);
        this.current = undefined;
        fresh = false;
        if (attempt >= this.room.layers + 2) throw new RoomError('ROOM_LOST', `the room kept failing: ${(err as Error).message}`);
      }
    }
  }

  private record(m: Member, start: number, input: Float32Array, output: Float32Array): void {
    let windows = this.byMember.get(m);
    if (!windows) this.byMember.set(m, (windows = []));
    if (!this.spans.has(m)) {
      this.spans.set(m, { ...m.span! });
      m.inFlight++;
    }
    if (start === 0 || windows.length === 0) windows.push({ inputs: [], outputs: [] });
    const w = windows.at(-1)!;
    w.inputs.push(input.slice());
    w.outputs.push(output.slice());
  }
}

/** A request's digest: keccak-256 of what was asked, by whom, when, with a random nonce (unique per request). */
export function requestDigest(fields: Record<string, unknown>): Hex {
  const nonce = crypto.getRandomValues(new Uint8Array(16));
  return toHex(keccak256(new TextEncoder().encode(JSON.stringify({ ...fields, nonce: toHex(nonce) }))));
}
