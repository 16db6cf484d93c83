/**
 * `branchy/cascade`: a network cut into deployment units that run in different processes and hosts. `splitModel`
 * and `writePlan` cut a model directory into units; `CascadeUnit` runs one; `createUnitServer` and
 * `httpTransport` put units on HTTP. NATS is in `branchy/cascade/nats` (it needs `@nats-io/transport-node`).
 * The placement planner (`placementSetup`, `planCandidates`, `bestCandidate`, `writePlacementPlan`) chooses the
 * cut, the tiers and the thresholds from measured costs.
 *
 * @module
 */
export { splitModel, writePlan, readPlan, planUnit, modelIdOf, PLAN_FILE, UNIT_NAME_PATTERN, type SplitOptions, type SplitUnit } from './plan.ts';
export { CascadeUnit, unitOfPlan, type UnitOptions } from './unit.ts';
export {
  writeSharedPlan,
  readSharedPlan,
  isSharedPlanDir,
  sharedUnitView,
  SHARED_PLAN_FORMAT,
  ADAPTER_UNIT_DIR,
  type SharedDeploymentPlan,
  type SharedFrontPlan,
  type SharedUnitView,
} from './shared-plan.ts';
export { createUnitServer, httpTransport, CascadeHost, FORWARD_ROUTE, type UnitServerOptions } from './http.ts';
export { fetchTransport } from './fetch-transport.ts';
export { registerWebRoutes, checkServesPage, PAGE_CSP, WEB_BUNDLE_DIR, SHIPPED_SAMPLES_DIR, type WebPageOptions } from './web-routes.ts';
export { WEB_ROUTES, EDGE_PAGE_FORMAT, type EdgePageConfig } from './web-config.ts';
export { decodeSampleBatch, sampleBatchFits, type SampleBatch } from './sample-batch.ts';
export { CircuitBreaker, type BreakerOptions, type BreakerState } from './breaker.ts';
export { encodeFeatures, decodeFeatures, featureBytes } from './feature-codec.ts';
export { BranchyCascadeError, BranchyTiersError, CascadeHopError, type CascadeErrorCode } from './errors.ts';
export { FEATURE_DTYPES, PLAN_OBJECTIVES } from './types.ts';
export type {
  CascadeRoute,
  DeploymentPlan,
  FeatureDtype,
  FeaturesMeta,
  ForwardMode,
  FrameHandler,
  HopTiming,
  PlanObjective,
  PlanPlacement,
  Transport,
  UnitPlan,
} from './types.ts';
export { validateTiers, readTiersFile, routeBetween, TIERS_FORMAT, type TiersFile, type TierSpec, type TierPower, type LinkSpec, type Route } from './tiers.ts';
export { architectureId, tierProfileOf, readTierProfile, writeTierProfile, TIER_PROFILE_FORMAT, type TierProfile } from './tier-profile.ts';
export { measureCodecCost, codecMs, type CodecCost, type FrameCodecCost, type LinearCost, type CodecMeasureOptions } from './codec-cost.ts';
export {
  placementFigures,
  tierCosts,
  type CostModelOptions,
  type CostTerms,
  type ExitCost,
  type HopLink,
  type Placement,
  type PlacementFigures,
  type TierCosts,
  type TierBurst,
  type TierQuota,
  type TierSpeed,
} from './cost-model.ts';
export { measureRequestCost, type RequestCost, type RequestCostFigures, type RequestCostMethod, type RequestCostOptions } from './request-cost.ts';
export {
  planCandidates,
  bestCandidate,
  compareCandidates,
  objectiveValue,
  enumeratePlacements,
  placementCount,
  meetsConstraint,
  writePlacementPlan,
  unitsOf,
  type PlanCandidate,
  type PlanConstraint,
  type PlannerInput,
  type PlannerResult,
  type PlacementRecord,
} from './planner.ts';
export { placementSetup, type PlacementSetup, type TierSource } from './placement-input.ts';
