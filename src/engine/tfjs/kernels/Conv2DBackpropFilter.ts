import {
  BatchMatMul,
  Conv2D,
  Conv2DBackpropFilter,
  Slice,
  Transpose,
  type Conv2DBackpropFilterAttrs,
  type KernelConfig,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { convGradientOperands, convWindow } from './conv-gradient-args.ts';
import { unsupportedAttrErrors } from './unsupported-attr.ts';
import { heapF32, wasmKernelAccess, type WasmBackend } from './wasm-backend.ts';

/*
 * Filter gradient of conv2d on the wasm backend:
 *
 *   dW[kh, kw, c, co] = sum over (b, oh, ow) of x[b, oh*sh + kh - pt, ow*sw + kw - pl, c] * dy[b, oh, ow, co]
 *
 * Two routes, both handing the arithmetic to XNNPACK through tfjs-wasm's own kernels; which is faster depends on
 * the size of dy (measured on LeNet- and CIFAR-sized layers):
 *
 * Conv of transposes, for small dy. With images as channels, the sum above is a forward conv of
 * x^T [C, H, W, B] with the filter dy^T [OH, OW, B, CO] at dilation (sh, sw), giving [C, KH, KW, CO]. It does
 * no wasted work, but dy is rearranged three times (our transpose, then tfjs's transpose of the filter and
 * XNNPACK's packing inside Conv2D); that is cheap while dy fits in cache and dominates once it does not.
 *
 * Phase-grid product, for large dy. dW = colT @ dy with colT [(kh, kw, c), (b, oh, ow)]. Only tfjs-wasm's
 * BatchMatMul with batch 1 and no transposes reaches XNNPACK (every other form is a scalar loop about ten times
 * slower), so colT is the left operand and dy the right. Building colT element by element in JS costs about as much
 * as the product, so x is first rewritten once, channel-major and split into stride phases (x row s*i + p goes to
 * phase p, row i). In that grid every tap reads a plain shifted window, and a row of colT for one (tap, channel,
 * image) is one contiguous run: a native copyWithin. The runs also span the qwMax grid columns right of the output
 * width; dy gets zero rows there, so they add GEMM work but no error. When that waste outweighs a JS copy (narrow
 * outputs, many taps) the columns are copied compactly instead (`useCompactColumns`). Big layers are processed in
 * batch chunks so colT stays bounded.
 */

/** Column layout of the phase-grid product: chosen by cost, or forced (for tests). */
export type ColumnLayout = 'auto' | 'padded' | 'compact';

/** Tuning knobs of the wasm Conv2DBackpropFilter kernel. Defaults come from measurements; tests change them. */
export interface Conv2DBackpropFilterTuning {
  /** dy with fewer floats than this (1 MiB by default, about a cache's worth) takes the conv-of-transposes route. */
  convPathMaxDyFloats: number;
  /** Upper bound on the floats of one batch chunk's column matrix in the phase-grid route. */
  maxColumnFloats: number;
  /** Column layout of the phase-grid route. */
  columnLayout: ColumnLayout;
}

/** The live tuning of the wasm Conv2DBackpropFilter kernel; mutate it only to force a route in tests. */
export const conv2DBackpropFilterTuning: Conv2DBackpropFilterTuning = {
  convPathMaxDyFloats: 1 << 18,
  maxColumnFloats: 1 << 23,
  columnLayout: 'auto',
};

// Per-element costs measured on the tfjs-wasm 4.22 SIMD build (single thread, Node 20); only their ratios matter.
const GEMM_NS_PER_MAC = 0.06;
const PACK_NS_PER_WEIGHT = 4; // XNNPACK repacks the right operand on every call, since dy is new each step
const JS_COPY_NS_PER_FLOAT = 1;

const { offsetF32, runWasmKernel } = wasmKernelAccess(Conv2DBackpropFilter);
const unsupported = unsupportedAttrErrors(Conv2DBackpropFilter);

/** Pixel geometry shared by the phase grid and column builders. */
interface Geometry {
  B: number;
  H: number;
  W: number;
  C: number;
  OH: number;
  OW: number;
  CO: number;
  KH: number;
  KW: number;
  sh: number;
  sw: number;
  pt: number;
  pl: number;
  /** Phase-grid width: output width plus the widest tap shift. */
  Wq: number;
  /** Phase-grid height: output height plus the tallest tap shift. */
  Hq: number;
  /** Number of stride phases actually read along height and width. */
  nph: number;
  npw: number;
}

/**
 * Compact columns skip the grid's padding columns at the cost of a JS copy per element; padded columns cost wasted
 * multiply-adds and packing instead. Both are per column of the product, so compare them per column.
 */
function useCompactColumns(P: number, CO: number, OW: number, Wq: number): boolean {
  if (Wq === OW) return false;
  const waste = (Wq - OW) / OW;
  return waste * (P * CO * GEMM_NS_PER_MAC + CO * PACK_NS_PER_WEIGHT) > P * JS_COPY_NS_PER_FLOAT;
}

/** Writes images [b0, b0+nb) of x into the phase grid at `gridOff`: [phase][c][image][Hq][Wq], zero outside x. */
function fillPhaseGrid(heap: Float32Array, xOff: number, gridOff: number, gridFloats: number, g: Geometry, b0: number, nb: number): void {
  const { H, W, C, sh, sw, pt, pl, Hq, Wq, nph, npw } = g;
  const G = Hq * Wq;
  const Kp = nb * G;
  heap.fill(0, gridOff, gridOff + gridFloats);
  for (let ph = 0; ph < nph; ph++) {
    for (let pw = 0; pw < npw; pw++) {
      const base = gridOff + (ph * npw + pw) * C * Kp;
      const jMin = Math.max(0, Math.ceil((pl - pw) / sw));
      const jMax = Math.min(Wq, Math.floor((W - 1 + pl - pw) / sw) + 1);
      if (jMax <= jMin) continue;
      for (let bl = 0; bl < nb; bl++) {
        for (let i = 0; i < Hq; i++) {
          const r = i * sh + ph - pt;
          if (r < 0 || r >= H) continue;
          const dRow = base + bl * G + i * Wq;
          const sRow = xOff + ((b0 + bl) * H + r) * W * C;
          for (let j = jMin; j < jMax; j++) {
            const s = sRow + (j * sw + pw - pl) * C;
            let d = dRow + j;
            for (let c = 0; c < C; c++, d += Kp) heap[d] = heap[s + c];
          }
        }
      }
    }
  }
}

/** Builds colT [(kh,kw,c), (image, oh, column)] from the phase grid; `rowWidth` is Wq (padded) or OW (compact). */
function fillColumns(heap: Float32Array, gridOff: number, colOff: number, g: Geometry, nb: number, rowWidth: number): void {
  const { C, OH, OW, KH, KW, sh, sw, Hq, Wq, npw } = g;
  const G = Hq * Wq;
  const Kp = nb * G;
  const runLength = OH * Wq;
  let dst = colOff;
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const phase = (kh % sh) * npw + (kw % sw);
      const tapStart = gridOff + phase * C * Kp + Math.floor(kh / sh) * Wq + Math.floor(kw / sw);
      for (let c = 0; c < C; c++) {
        for (let bl = 0; bl < nb; bl++) {
          const src = tapStart + c * Kp + bl * G;
          if (rowWidth === Wq) {
            // One run covers all OH rows; it may read a few floats past this image's block (finite x values or
            // the grid's zero tail), but only at columns >= OW, where dy is zero-padded.
            heap.copyWithin(dst, src, src + runLength);
            dst += runLength;
          } else {
            for (let oh = 0; oh < OH; oh++) {
              const s = src + oh * Wq;
              for (let ow = 0; ow < OW; ow++) heap[dst++] = heap[s + ow];
            }
          }
        }
      }
    }
  }
}

/** Copies dy rows for images [b0, b0+nb) into [image, oh, rowWidth, CO], zero beyond OW. */
function fillDy(heap: Float32Array, dyOff: number, dst: number, g: Geometry, b0: number, nb: number, rowWidth: number): void {
  const { OH, OW, CO } = g;
  const rowFloats = OW * CO;
  if (rowWidth === OW) {
    const start = dyOff + b0 * OH * rowFloats;
    heap.copyWithin(dst, start, start + nb * OH * rowFloats);
    return;
  }
  heap.fill(0, dst, dst + nb * OH * rowWidth * CO);
  for (let bl = 0; bl < nb; bl++) {
    for (let oh = 0; oh < OH; oh++) {
      const s = dyOff + ((b0 + bl) * OH + oh) * rowFloats;
      heap.copyWithin(dst + (bl * OH + oh) * rowWidth * CO, s, s + rowFloats);
    }
  }
}

/**
 * The conv's output must be exactly KH x KW, so x is padded at the bottom and right by what that needs, or cropped
 * when taps never reach its last rows or columns. Returns undefined for geometry the route cannot express.
 */
function convRouteCrop(g: Geometry): { rows: number; cols: number; pb: number; pr: number } | undefined {
  const pb = (g.OH - 1) * g.sh + g.KH - g.H - g.pt;
  const pr = (g.OW - 1) * g.sw + g.KW - g.W - g.pl;
  const rows = g.H + Math.min(pb, 0);
  const cols = g.W + Math.min(pr, 0);
  if (g.pt < 0 || g.pl < 0 || rows < 1 || cols < 1) return undefined;
  return { rows, cols, pb: Math.max(pb, 0), pr: Math.max(pr, 0) };
}

function viaConvOfTransposes(
  backend: WasmBackend,
  x: TensorInfo,
  dy: TensorInfo,
  g: Geometry,
  crop: NonNullable<ReturnType<typeof convRouteCrop>>,
): TensorInfo {
  const temps: TensorInfo[] = [];
  try {
    let source = x;
    if (crop.rows < g.H || crop.cols < g.W) {
      source = runWasmKernel(Slice, backend, { x }, { begin: [0, 0, 0, 0], size: [g.B, crop.rows, crop.cols, g.C] });
      temps.push(source);
    }
    const xT = runWasmKernel(Transpose, backend, { x: source }, { perm: [3, 1, 2, 0] }); // [C, H, W, B]
    temps.push(xT);
    const dyT = runWasmKernel(Transpose, backend, { x: dy }, { perm: [1, 2, 0, 3] }); // [OH, OW, B, CO]
    temps.push(dyT);
    // dyT is a fresh tensor: tfjs-wasm caches XNNPACK conv operators (with packed weights) under the filter's id,
    // and disposing dyT below drops that operator again.
    const perChannel = runWasmKernel(
      Conv2D,
      backend,
      { x: xT, filter: dyT },
      {
        strides: [1, 1],
        dilations: [g.sh, g.sw],
        pad: [
          [0, 0],
          [g.pt, crop.pb],
          [g.pl, crop.pr],
          [0, 0],
        ],
        dataFormat: 'NHWC',
      },
    ); // [C, KH, KW, CO]
    temps.push(perChannel);
    return runWasmKernel(Transpose, backend, { x: perChannel }, { perm: [1, 2, 0, 3] });
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

function viaPhaseGridProduct(backend: WasmBackend, x: TensorInfo, dy: TensorInfo, g: Geometry): TensorInfo {
  const { B, C, OH, OW, CO, KH, KW } = g;
  const P = KH * KW * C;
  const tuning = conv2DBackpropFilterTuning;
  const compact = tuning.columnLayout === 'auto' ? useCompactColumns(P, CO, OW, g.Wq) : tuning.columnLayout === 'compact';
  const rowWidth = compact ? OW : g.Wq;
  const tail = g.Wq - OW; // padded runs of the last grid block read this far past its end
  const imageColumns = OH * rowWidth;
  const chunk = Math.max(1, Math.min(B, Math.floor(tuning.maxColumnFloats / (P * imageColumns))));
  const gridFloatsFor = (nb: number) => g.nph * g.npw * C * nb * g.Hq * g.Wq + tail;

  const temps: TensorInfo[] = [];
  const temp = (shape: number[]) => {
    const t = backend.makeOutput(shape, 'float32');
    temps.push(t);
    return t;
  };
  const release = (t: TensorInfo) => {
    temps.splice(temps.indexOf(t), 1);
    backend.disposeData(t.dataId);
  };
  try {
    // Grid and columns are reused across chunks; dy's copy is not, see below.
    const grid = temp([gridFloatsFor(chunk)]);
    const cols = temp([P * chunk * imageColumns]);
    let acc: TensorInfo | undefined;
    for (let b0 = 0; b0 < B; b0 += chunk) {
      const nb = Math.min(chunk, B - b0);
      const Kc = nb * imageColumns;
      // A fresh tensor per product: XNNPACK caches its packed right operand under the tensor's id (ignoring the
      // shape), so handing it dy itself, or reusing one buffer across chunks, could reuse stale weights.
      const dyCols = temp([Kc * CO]);
      const heap = heapF32(backend);
      const gridOff = offsetF32(backend, grid);
      fillPhaseGrid(heap, offsetF32(backend, x), gridOff, gridFloatsFor(nb), g, b0, nb);
      fillColumns(heap, gridOff, offsetF32(backend, cols), g, nb, rowWidth);
      fillDy(heap, offsetF32(backend, dy), offsetF32(backend, dyCols), g, b0, nb, rowWidth);
      const product = runWasmKernel(
        BatchMatMul,
        backend,
        {
          a: { dataId: cols.dataId, shape: [1, P, Kc], dtype: 'float32' },
          b: { dataId: dyCols.dataId, shape: [1, Kc, CO], dtype: 'float32' },
        },
        { transposeA: false, transposeB: false },
      );
      temps.push(product);
      release(dyCols);
      if (acc === undefined) {
        acc = product;
      } else {
        const h = heapF32(backend);
        const a = offsetF32(backend, acc);
        const p = offsetF32(backend, product);
        for (let i = 0; i < P * CO; i++) h[a + i] += h[p + i];
        release(product);
      }
    }
    if (acc === undefined) throw new Error('Conv2DBackpropFilter on wasm: no batch chunk was processed.');
    temps.splice(temps.indexOf(acc), 1);
    return { dataId: acc.dataId, shape: [KH, KW, C, CO], dtype: 'float32' };
  } finally {
    for (const t of temps) backend.disposeData(t.dataId);
  }
}

function conv2DBackpropFilter({ inputs, backend: anyBackend, attrs }: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = anyBackend as WasmBackend;
  const [x, dy, filterShape] = convGradientOperands(unsupported, inputs, ['x', 'dy'], attrs, 'filterShape');
  const { strides, pad, dimRoundingMode } = attrs as unknown as Conv2DBackpropFilterAttrs;
  const [B, H, W, C] = x.shape;
  const [KH, KW, fC, CO] = filterShape;
  // dy's own height and width are authoritative: they are what the forward conv produced, even when a rounding
  // mode makes the recomputed output size disagree.
  const [dB, OH, OW, dCO] = dy.shape;
  if (fC !== C || dCO !== CO || dB !== B) {
    throw unsupported(`shapes disagree: x [${x.shape}], dy [${dy.shape}], filterShape [${filterShape}].`);
  }
  // Conv2DBackpropFilter has no dilations attr: tfjs's conv2d gradient only supports dilation 1.
  const { sh, sw, pt, pl } = convWindow([B, H, W, C], filterShape, { strides, pad, dimRoundingMode }, false);
  const g: Geometry = {
    B,
    H,
    W,
    C,
    OH,
    OW,
    CO,
    KH,
    KW,
    sh,
    sw,
    pt,
    pl,
    Hq: OH + Math.floor((KH - 1) / sh),
    Wq: OW + Math.floor((KW - 1) / sw),
    nph: Math.min(sh, KH),
    npw: Math.min(sw, KW),
  };

  if (KH * KW * C * CO === 0 || B * OH * OW === 0) {
    const out = backend.makeOutput([KH, KW, C, CO], 'float32');
    const off = offsetF32(backend, out);
    heapF32(backend).fill(0, off, off + KH * KW * C * CO);
    return out;
  }
  const crop = convRouteCrop(g);
  if (crop !== undefined && B * OH * OW * CO < conv2DBackpropFilterTuning.convPathMaxDyFloats) {
    return viaConvOfTransposes(backend, x, dy, g, crop);
  }
  return viaPhaseGridProduct(backend, x, dy, g);
}

/** `Conv2DBackpropFilter` (the filter gradient of conv2d) for the wasm backend, which tfjs 4.22 lacks. NHWC only. */
export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilter as KernelFunc,
};
