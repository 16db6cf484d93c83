/**
 * What a unit serving the edge page (`branchy unit --web`) tells the page, and where it serves each part: the
 * page runs the plan's first unit in the browser and hands what it cannot answer to the unit behind this server.
 * Browser-safe (types and constants only).
 *
 * @module
 */
import type { ForwardMode, UnitPlan } from './types.ts';

/** The page's routes on a unit's server. */
export const WEB_ROUTES = Object.freeze({
  /** The page itself. */
  page: '/',
  /** {@link EdgePageConfig} as JSON. */
  config: '/web/config.json',
  /** Prefix of the first unit's model directory: `branchy.json` and the files it lists, read-only. */
  unit: '/web/unit/',
  /** Prefix of the page's bundle (scripts and style). */
  assets: '/web/',
  /** Prefix of the WebAssembly binaries, served from the installed onnxruntime-web and tfjs-backend-wasm. */
  wasm: '/web/wasm/',
  /** The labelled test batch (a tensor frame: `x` U8 NHWC, `y` I32, class names in `__metadata__.classes`). */
  samples: '/web/samples.safetensors',
});

/** `format` of {@link EdgePageConfig}. */
export const EDGE_PAGE_FORMAT = 'branchy-edge-page/1';

/** The settings the page starts from and what it needs to run the first unit and reach the server's. */
export interface EdgePageConfig {
  format: typeof EDGE_PAGE_FORMAT;
  /** The network's name and id (`DeploymentPlan.model`, `modelId`): every frame the page sends carries the id. */
  model: string;
  modelId: string;
  classes: string[];
  /** One sample of raw input, `[height, width, channels]`, pixels in [0, 1]. */
  inputShape: number[];
  /** The exit criterion (`entropy` by default) and the whole network's early-exit thresholds (the plan's). */
  criterion: string;
  thresholds: number[];
  /** What the first unit hands on: its last stage's features, or the raw input. */
  forward: ForwardMode;
  /** The unit the page runs, as in the plan. */
  unit: UnitPlan;
  /** URL prefix of its model directory (`branchy.json` and the files it lists). */
  unitUrl: string;
  /** The unit behind this server, which takes what the page hands on. */
  successor: {
    unit: string;
    /** Path of its forward route (`POST`, a features frame in, an answer frame out). */
    url: string;
    /** How long the page waits for its answer before answering from the browser's exit, degraded. */
    deadlineMs: number;
  };
  /** Per-sample shape of what the page sends: the features of the first unit's last stage, or the raw input. */
  sentShape: number[];
  /** URL prefixes of the WebAssembly binaries (`ort-wasm-simd-threaded.wasm`, `tfjs-backend-wasm*.wasm`). */
  wasm: { ort: string; tfjs: string };
  /** The labelled test batch for the threshold's trade-off, when one fits the model's classes and input. */
  samples?: { url: string; count: number; source: string };
}
