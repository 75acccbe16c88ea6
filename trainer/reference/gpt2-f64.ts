// A plain float64 GPT-2 forward and backward in JavaScript: the reference the ONNX graphs are checked
// against. Slow and simple on purpose; use it only on tiny configs.
import { type ModelConfig, paramSpecs } from '../model/config.js';

export type Params64 = Map<string, Float64Array>;

const S = Math.sqrt(2 / Math.PI);
const GC = 0.044715;

export function toParams64(w: Map<string, Float32Array>): Params64 {
  return new Map([...w].map(([k, v]) => [k, Float64Array.from(v)]));
}

/** out[n, j] = sum_k a[n, k] * b[k, j] */
function mm(a: Float64Array, b: Float64Array, n: number, k: number, m: number): Float64Array {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      if (av === 0) continue;
      for (let j = 0; j < m; j++) out[i * m + j] += av * b[p * m + j]!;
    }
  return out;
}
/** out[k, m] += a[n, k]^T b[n, m] */
function mmTA(a: Float64Array, b: Float64Array, n: number, k: number, m: number, out: Float64Array): void {
  for (let i = 0; i < n; i++)
    for (let p = 0; p < k; p++) {
      const av = a[i * k + p]!;
      for (let j = 0; j < m; j++) out[p * m + j] += av * b[i * m + j]!;
    }
}
/** out[n, k] = a[n, m] b[k, m]^T */
function mmTB(a: Float64Array, b: Float64Array, n: number, m: number, k: number): Float64Array {
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++)
    for (let p = 0; p < k; p++) {
      let s = 0;
      for (let j = 0; j < m; j++) s += a[i * m + j]! * b[p * m + j]!;
      out[i * k + p] = s;
    }
  return out;
}

interface LnCache {
  xhat: Float64Array;
  rstd: Float64Array;
}
function lnFwd(x: Float64Array, w: Float64Array, b: Float64Array, N: number, C: number, eps: number): { y: Float64Array; c: LnCache } {
  const y = new Float64Array(N * C),
    xhat = new Float64Array(N * C),
    rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let mu = 0;
    for (let c = 0; c < C; c++) mu += x[n * C + c]!;
    mu /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[n * C + c]! - mu) ** 2;
    const r = 1 / Math.sqrt(v / C + eps);
    rstd[n] = r;
    for (let c = 0; c < C; c++) {
      const xh = (x[n * C + c]! - mu) * r;
      xhat[n * C + c] = xh;
      y[n * C + c] = xh * w[c]! + b[c]!;
    }
  }
  return { y, c: { xhat, rstd } };
}
function lnBwd(dy: Float64Array, c: LnCache, w: Float64Array, N: number, C: number, dw: Float64Array, db: Float64Array): Float64Array {
  const dx = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    let m1 = 0,
      m2 = 0;
    for (let k = 0; k < C; k++) {
      const d = dy[n * C + k]!;
      dw[k] += d * c.xhat[n * C + k]!;
      db[k] += d;
      const dxh = d * w[k]!;
      m1 += dxh;
      m2 += dxh * c.xhat[n * C + k]!;
    }
    m1 /= C;
    m2 /= C;
    for (let k = 0; k < C; k++) dx[n * C + k] = c.rstd[n]! * (dy[n * C + k]! * w[k]! - m1 - c.xhat[n * C + k]! * m2);
  }
  return dx;
}

export interface ReferenceResult {
  loss: number;
  grads: Params64;
}

/** Mean cross-entropy over rows of T+1 tokens (inputs then targets shifted by one), and its exact gradient. */
export function referenceLossAndGrads(cfg: ModelConfig, P: Params64, rows: number[][]): ReferenceResult {
  const B = rows.length,
    T = rows[0]!.length - 1,
    N = B * T;
  const C = cfg.n_embd,
    H = cfg.n_head,
    D = C / H,
    V = cfg.vocab_size,
    F = cfg.n_inner,
    eps = cfg.layer_norm_epsilon;
  const p = (n: string): Float64Array => P.get(n)!;
  const G: Params64 = new Map(paramSpecs(cfg).map((s) => [s.name, new Float64Array(P.get(s.name)!.length)]));
  const gr = (n: string): Float64Array => G.get(n)!;
  const ids = rows.flatMap((r) => r.slice(0, T));
  const tg = rows.flatMap((r) => r.slice(1));
  const wte = p('wte.weight'),
    wpe = p('wpe.weight');
  let x: Float64Array = new Float64Array(N * C);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) x[n * C + c] = wte[ids[n]! * C + c]! + wpe[(n % T) * C + c]!;
  const linear = (a: Float64Array, name: string, k: number, m: number): Float64Array => {
    const out = mm(a, p(`${name}.weight`), N, k, m);
    const bias = p(`${name}.bias`);
    for (let i = 0; i < N; i++) for (let j = 0; j < m; j++) out[i * m + j] += bias[j]!;
    return out;
  };
  const caches: {
    x: Float64Array;
    l1: LnCache;
    a: Float64Array;
    qkv: Float64Array;
    att: Float64Array;
    o: Float64Array;
    l2: LnCache;
    m: Float64Array;
    f: Float64Array;
    gl: Float64Array;
  }[] = [];
  for (let l = 0; l < cfg.n_layer; l++) {
    const h = `h.${l}`;
    const { y: a, c: l1 } = lnFwd(x, p(`${h}.ln_1.weight`), p(`${h}.ln_1.bias`), N, C, eps);
    const qkv = linear(a, `${h}.attn.c_attn`, C, 3 * C);
    const att = new Float64Array(B * H * T * T);
    const o = new Float64Array(N * C);
    for (let b = 0; b < B; b++)
      for (let hh = 0; hh < H; hh++)
        for (let i = 0; i < T; i++) {
          const row = ((b * H + hh) * T + i) * T;
          let mx = -Infinity;
          for (let j = 0; j <= i; j++) {
            let s = 0;
            for (let d = 0; d < D; d++) s += qkv[(b * T + i) * 3 * C + hh * D + d]! * qkv[(b * T + j) * 3 * C + C + hh * D + d]!;
            att[row + j] = s / Math.sqrt(D);
            mx = Math.max(mx, att[row + j]!);
          }
          let se = 0;
          for (let j = 0; j <= i; j++) {
            att[row + j] = Math.exp(att[row + j]! - mx);
            se += att[row + j]!;
          }
          for (let j = 0; j <= i; j++) att[row + j]! /= se;
          for (let j = 0; j <= i; j++)
            for (let d = 0; d < D; d++) o[(b * T + i) * C + hh * D + d] += att[row + j]! * qkv[(b * T + j) * 3 * C + 2 * C + hh * D + d]!;
        }
    const y = linear(o, `${h}.attn.c_proj`, C, C);
    const x1 = x.map((v, i) => v + y[i]!);
    const { y: m, c: l2 } = lnFwd(x1, p(`${h}.ln_2.weight`), p(`${h}.ln_2.bias`), N, C, eps);
    const f = linear(m, `${h}.mlp.c_fc`, C, F);
    const gl = f.map((v) => 0.5 * v * (1 + Math.tanh(S * (v + GC * v ** 3))));
    const z = linear(gl, `${h}.mlp.c_proj`, F, C);
    caches.push({ x, l1, a, qkv, att, o, l2, m, f, gl });
    x = x1.map((v, i) => v + z[i]!);
  }
  const { y: hf, c: lf } = lnFwd(x, p('ln_f.weight'), p('ln_f.bias'), N, C, eps);
  const logits = mmTB(hf, wte, N, C, V);
  let loss = 0;
  const dlogits = new Float64Array(N * V);
  for (let n = 0; n < N; n++) {
    let mx = -Infinity;
    for (let v = 0; v < V; v++) mx = Math.max(mx, logits[n * V + v]!);
    let se = 0;
    for (let v = 0; v < V; v++) se += Math.exp(logits[n * V + v]! - mx);
    loss += Math.log(se) + mx - logits[n * V + tg[n]!]!;
    for (let v = 0; v < V; v++) dlogits[n * V + v] = Math.exp(logits[n * V + v]! - mx) / se / N;
    dlogits[n * V + tg[n]!]! -= 1 / N;
  }
  loss /= N;

  // backward
  mmTA(dlogits, hf, N, V, C, gr('wte.weight'));
  let dx = lnBwd(mm(dlogits, wte, N, V, C), lf, p('ln_f.weight'), N, C, gr('ln_f.weight'), gr('ln_f.bias'));
  const linBack = (dy: Float64Array, a: Float64Array, name: string, k: number, m: number): Float64Array => {
    mmTA(a, dy, N, k, m, gr(`${name}.weight`));
    const db = gr(`${name}.bias`);
    for (let i = 0; i < N; i++) for (let j = 0; j < m; j++) db[j] += dy[i * m + j]!;
    return mmTB(dy, p(`${name}.weight`), N, m, k);
  };
  for (let l = cfg.n_layer - 1; l >= 0; l--) {
    const h = `h.${l}`;
    const c = caches[l]!;
    const dgl = linBack(dx, c.gl, `${h}.mlp.c_proj`, F, C);
    const df = dgl.map((d, i) => {
      const v = c.f[i]!;
      const t = Math.tanh(S * (v + GC * v ** 3));
      return d * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * S * (1 + 3 * GC * v * v));
    });
    const dm = linBack(df, c.m, `${h}.mlp.c_fc`, C, F);
    const dx1 = lnBwd(dm, c.l2, p(`${h}.ln_2.weight`), N, C, gr(`${h}.ln_2.weight`), gr(`${h}.ln_2.bias`));
    dx = dx.map((v, i) => v + dx1[i]!);
    const dO = linBack(dx, c.o, `${h}.attn.c_proj`, C, C);
    const dqkv = new Float64Array(N * 3 * C);
    for (let b = 0; b < B; b++)
      for (let hh = 0; hh < H; hh++)
        for (let i = 0; i < T; i++) {
          const row = ((b * H + hh) * T + i) * T;
          const dp = new Float64Array(i + 1);
          let dot = 0;
          for (let j = 0; j <= i; j++) {
            let s = 0;
            for (let d = 0; d < D; d++) {
              s += dO[(b * T + i) * C + hh * D + d]! * c.qkv[(b * T + j) * 3 * C + 2 * C + hh * D + d]!;
              dqkv[(b * T + j) * 3 * C + 2 * C + hh * D + d] += c.att[row + j]! * dO[(b * T + i) * C + hh * D + d]!;
            }
            dp[j] = s;
            dot += s * c.att[row + j]!;
          }
          for (let j = 0; j <= i; j++) {
            const ds = (c.att[row + j]! * (dp[j]! - dot)) / Math.sqrt(D);
            for (let d = 0; d < D; d++) {
              dqkv[(b * T + i) * 3 * C + hh * D + d] += ds * c.qkv[(b * T + j) * 3 * C + C + hh * D + d]!;
              dqkv[(b * T + j) * 3 * C + C + hh * D + d] += ds * c.qkv[(b * T + i) * 3 * C + hh * D + d]!;
            }
          }
        }
    const da = linBack(dqkv, c.a, `${h}.attn.c_attn`, C, 3 * C);
    const dx0 = lnBwd(da, c.l1, p(`${h}.ln_1.weight`), N, C, gr(`${h}.ln_1.weight`), gr(`${h}.ln_1.bias`));
    dx = dx.map((v, i) => v + dx0[i]!);
  }
  const gwte = gr('wte.weight'),
    gwpe = gr('wpe.weight');
  for (let n = 0; n < N; n++)
    for (let c = 0; c < C; c++) {
      gwte[ids[n]! * C + c] += dx[n * C + c]!;
      gwpe[(n % T) * C + c] += dx[n * C + c]!;
    }
  return { loss, grads: G };
}
