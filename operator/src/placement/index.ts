// The placement engine's public surface. Pure: no I/O, no clock, no randomness; the same index
// contents and requests always give the same plan.
export type {
  NodeCapacity,
  Placement,
  PlacementPlan,
  ReplicaRequest,
  TeeType,
  Unplaced,
  UnplacedReason,
} from './types.js';
export { FleetIndex, isSchedulable } from './fleet-index.js';
export type { FleetIndexStats, UnschedulableCounts } from './fleet-index.js';
export { planPlacements } from './plan.js';
export { podGpus } from './pod-gpus.js';
export { measureStranding } from './stranded.js';
export type { StrandingReport } from './stranded.js';
export {
  INSUFFICIENT_ATTESTED_CAPACITY,
  degradedCondition,
  describeUnplaced,
  summarizeUnplaced,
} from './explain.js';
export type { DegradedCondition } from './explain.js';
