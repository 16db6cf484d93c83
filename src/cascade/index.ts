/**
 * `branchy/cascade`: a network cut into deployment units that run in different processes and hosts. `splitModel`
 * and `writePlan` cut a model directory into units; `CascadeUnit` runs one; `createUnitServer` and
 * `httpTransport` put units on HTTP. NATS is in `branchy/cascade/nats` (it needs `@nats-io/transport-node`).
 *
 * @module
 */
export { splitModel, writePlan, readPlan, planUnit, modelIdOf, PLAN_FILE, UNIT_NAME_PATTERN, type SplitOptions, type SplitUnit } from './plan.ts';
export { CascadeUnit, type UnitOptions } from './unit.ts';
export { createUnitServer, httpTransport, CascadeHost, FORWARD_ROUTE, type UnitServerOptions } from './http.ts';
export { fetchTransport } from './fetch-transport.ts';
export { registerWebRoutes, checkServesPage, PAGE_CSP, WEB_BUNDLE_DIR, SHIPPED_SAMPLES_DIR, type WebPageOptions } from './web-routes.ts';
export { WEB_ROUTES, EDGE_PAGE_FORMAT, type EdgePageConfig } from './web-config.ts';
export { decodeSampleBatch, sampleBatchFits, type SampleBatch } from './sample-batch.ts';
export { CircuitBreaker, type BreakerOptions, type BreakerState } from './breaker.ts';
export { encodeFeatures, decodeFeatures, featureBytes } from './feature-codec.ts';
export { BranchyCascadeError, CascadeHopError, type CascadeErrorCode } from './errors.ts';
export { FEATURE_DTYPES } from './types.ts';
export type { CascadeRoute, DeploymentPlan, FeatureDtype, FeaturesMeta, ForwardMode, FrameHandler, HopTiming, Transport, UnitPlan } from './types.ts';
