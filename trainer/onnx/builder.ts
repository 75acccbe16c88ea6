// A small builder for ONNX graphs over `onnx-proto`: named values, nodes with typed attributes, constants,
// and serialization. Opset 17 of the default domain only, so the graphs run on onnxruntime's CPU, WebGPU,
// CUDA and WASM providers alike.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const OPSET = 17;

export type ElemType = 'float32' | 'float16' | 'int64' | 'bool';
export type Dim = number | string;

const ELEM: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** An attribute value with its ONNX type made explicit (an integer-valued float is still a float). */
export type Attr = { i: number } | { f: number } | { ints: number[] } | { s: string } | { graph: onnxProto.onnx.IGraphProto };
export const int = (i: number): Attr => ({ i });
export const float = (f: number): Attr => ({ f });
export const ints = (v: number[]): Attr => ({ ints: v });
/** A subgraph attribute (a Loop's `body`), from another builder's `toGraphProto`. */
export const graph = (g: onnxProto.onnx.IGraphProto): Attr => ({ graph: g });

function valueInfo(name: string, elem: ElemType, shape: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[elem],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attributes(attrs: Record<string, Attr>): onnxProto.onnx.IAttributeProto[] {
  return Object.entries(attrs).map(([name, a]) => {
    if ('i' in a) return { name, type: onnx.AttributeProto.AttributeType.INT, i: a.i };
    if ('f' in a) return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: a.f };
    if ('ints' in a) return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: a.ints };
    if ('graph' in a) return { name, type: onnx.AttributeProto.AttributeType.GRAPH, g: a.graph };
    return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(a.s) };
  });
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly initializers: onnxProto.onnx.ITensorProto[] = [];
  private readonly constCache = new Map<string, string>();
  private readonly halfCache = new Map<string, string>();
  private counter = 0;
  /**
   * Mixed precision in the manner of PyTorch's autocast (its float16 op list): with 'float16', `matmul` and `gemm`
   * multiply float16 copies of their float32 operands (each value cast once, weights included) and return float32,
   * so every other op (LayerNorm, softmax, the loss, the optimizer) stays in float32.
   */
  autocast?: 'float16' | 'float16-emulated';

  /**
   * `prefix` starts every name the builder makes up: a subgraph's names must differ from its outer graph's, which
   * its nodes may read (ONNX IR: names are unique across a graph and its subgraphs).
   */
  constructor(
    readonly name: string,
    private readonly prefix = '',
  ) {}

  private fresh(hint: string): string {
    return `${this.prefix}${hint}_${this.counter++}`;
  }

  input(name: string, elem: ElemType, shape: Dim[]): string {
    this.inputs.push(valueInfo(name, elem, shape));
    return name;
  }

  /** Marks `value` as a graph output called `name` (through an Identity when the names differ). */
  output(value: string, name: string, elem: ElemType, shape: Dim[]): string {
    if (value !== name) this.nodes.push({ opType: 'Identity', input: [value], output: [name], name: this.fresh('out') });
    this.outputs.push(valueInfo(name, elem, shape));
    return name;
  }

  /** A float32 or int64 constant, stored as an initializer; identical small constants are shared. */
  constant(values: ArrayLike<number>, dims: number[], elem: 'float32' | 'int64' = 'float32', hint = 'const'): string {
    const small = values.length <= 16;
    const key = small ? `${elem}|${dims.join(',')}|${Array.from(values).join(',')}` : '';
    if (small && this.constCache.has(key)) return this.constCache.get(key)!;
    const name = this.fresh(hint);
    const raw =
      elem === 'float32'
        ? new Uint8Array(Float32Array.from(values).buffer)
        : new Uint8Array(BigInt64Array.from(Array.from(values, (v) => BigInt(v))).buffer);
    this.initializers.push({ name, dims, dataType: ELEM[elem], rawData: raw });
    if (small) this.constCache.set(key, name);
    return name;
  }

  scalar(v: number): string {
    return this.constant([v], [], 'float32', 'scalar');
  }

  i64(values: number[]): string {
    return this.constant(values, [values.length], 'int64', 'shape');
  }

  /** Adds a node and returns its output names. */
  node(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, nOutputs = 1, hint?: string): string[] {
    const outs = Array.from({ length: nOutputs }, () => this.fresh(hint ?? opType.toLowerCase()));
    this.named(opType, inputs, outs, attrs);
    return outs;
  }

  /** Adds a node whose outputs have the given names (a graph's own outputs, with no Identity between). */
  named(opType: string, inputs: string[], outputs: string[], attrs: Record<string, Attr> = {}): void {
    this.nodes.push({ opType, input: inputs, output: outputs, attribute: attributes(attrs), name: this.fresh(`n_${opType}`) });
  }

  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, hint?: string): string {
    return this.node(opType, inputs, attrs, 1, hint)[0]!;
  }

  // Shorthands for the ops the model uses.
  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  matmul(a: string, b: string): string {
    if (this.autocast) return this.toFloat(this.op('MatMul', [this.half(a), this.half(b)]));
    return this.op('MatMul', [a, b]);
  }
  /** Gemm on 2-D operands: op(a) @ op(b). */
  gemm(a: string, b: string, transA = false, transB = false): string {
    const attrs = { transA: int(transA ? 1 : 0), transB: int(transB ? 1 : 0) };
    if (this.autocast) return this.toFloat(this.op('Gemm', [this.half(a), this.half(b)], attrs));
    return this.op('Gemm', [a, b], attrs);
  }
  /** A float16 copy of float32 `x`, made once per value. */
  half(x: string): string {
    let h = this.halfCache.get(x);
    if (!h) this.halfCache.set(x, (h = this.autocast === 'float16-emulated' ? this.round11(x) : this.cast(x, 'float16', 'half')));
    return h;
  }
  /** `x` converted to `to` (ONNX Cast). */
  cast(x: string, to: ElemType, hint?: string): string {
    return this.op('Cast', [x], { to: int(ELEM[to]) }, hint);
  }
  toFloat(x: string): string {
    return this.autocast === 'float16-emulated' ? this.round11(x) : this.cast(x, 'float32');
  }
  /** float32 `x` rounded to float16's 11 significant bits, in float32 (Veltkamp's split: hi = xK - (xK - x), K = 2^13 + 1). */
  private round11(x: string): string {
    const xk = this.mul(x, this.scalar(2 ** 13 + 1));
    return this.sub(xk, this.sub(xk, x));
  }
  reshape(x: string, shape: number[]): string {
    return this.op('Reshape', [x, this.i64(shape)]);
  }
  transpose(x: string, perm: number[]): string {
    return this.op('Transpose', [x], { perm: ints(perm) });
  }
  reduceMean(x: string, axes: number[], keep = true): string {
    return this.op('ReduceMean', [x], { axes: ints(axes), keepdims: int(keep ? 1 : 0) });
  }
  reduceSum(x: string, axes: number[] | null, keep = true): string {
    return this.op('ReduceSum', axes ? [x, this.i64(axes)] : [x], { keepdims: int(keep ? 1 : 0) });
  }

  /** The graph alone: a model's, or a subgraph for another builder's node (see `graph`). */
  toGraphProto(): onnxProto.onnx.IGraphProto {
    return { name: this.name, node: this.nodes, input: this.inputs, output: this.outputs, initializer: this.initializers };
  }

  toModelProto(docString = ''): onnxProto.onnx.ModelProto {
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'ailo-trainer',
      docString,
      opsetImport: [{ domain: '', version: OPSET }],
      graph: this.toGraphProto(),
    });
  }

  toBytes(docString = ''): Uint8Array {
    return onnx.ModelProto.encode(this.toModelProto(docString)).finish();
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** The op types used, for checking the graph stays within the ops every target provider runs. */
  opTypes(): Set<string> {
    return new Set(this.nodes.map((n) => n.opType!));
  }
}
