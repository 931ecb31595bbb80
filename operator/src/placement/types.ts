// The placement engine's own vocabulary. These types are deliberately decoupled from the CRDs: the
// InferencePool controller (and the CLI's dry run) translate ProviderNode / InferencePool objects into
// these shapes, so the engine can be tested, benchmarked and sharded without Kubernetes in sight. Only
// the TEE vocabulary is the API's own (a type, so nothing of Kubernetes comes with it).
import type { ProviderNodeSpec } from '../api/providernode.js';

/** The confidential-computing technology a node's CPU runs in: the API's ProviderNode spec.tee. */
export type TeeType = ProviderNodeSpec['tee'];

/** One GPU host as the engine sees it: what it is, what it has free, and whether it may take work. */
export interface NodeCapacity {
  /** The Kubernetes Node name; unique in a fleet and the final deterministic tie-break. */
  readonly name: string;
  /** Who runs the host (payout address or provider id); replicas of one pool spread across these. */
  readonly provider: string;
  readonly tee: TeeType;
  /** e.g. 'H100'; every GPU on one host is the same model. */
  readonly gpuModel: string;
  readonly gpuTotal: number;
  /** GPUs not yet allocated, already net of every replica bound to the node. */
  readonly gpuFree: number;
  /** Price multiplier in thousandths (1000 = 1.0×, as in Cocoon). */
  readonly priceCoefficient: number;
  /** Passed attestation and the evidence has not expired. */
  readonly attested: boolean;
  readonly quarantined: boolean;
  readonly cordoned: boolean;
  readonly labels?: Readonly<Record<string, string>>;
}

/** One replica that needs a node. Every replica of a pool carries the pool's constraints. */
export interface ReplicaRequest {
  /** The owning InferencePool as `namespace/name`. */
  readonly pool: string;
  /** Unique across the whole batch (e.g. the Pod name). */
  readonly replicaId: string;
  /** GPUs the replica needs on one node. */
  readonly gpus: number;
  /** Allowed GPU models; a replica never lands on any other. */
  readonly gpuModels: readonly string[];
  /** Allowed TEE types. */
  readonly teeTypes: readonly TeeType[];
  /** Highest acceptable node price coefficient (inclusive), in thousandths. */
  readonly maxPriceCoefficient: number;
  /** Prefer providers holding the fewest replicas of this pool, even over a tighter fit. */
  readonly spreadAcrossProviders: boolean;
  /** Hard limit on replicas of this pool per node; absent means no limit. */
  readonly maxPerNode?: number;
}

/** A replica bound (or about to be bound) to a node. */
export interface Placement {
  readonly pool: string;
  readonly replicaId: string;
  readonly node: string;
  readonly gpus: number;
}

/**
 * Why a replica could not be placed, from the most basic missing thing to the most specific:
 * no usable node at all, then the first constraint that rules every remaining node out.
 */
export type UnplacedReason =
  | 'NoAttestedNode'
  | 'GpuModelUnavailable'
  | 'TeeUnavailable'
  | 'PriceCapExceeded'
  | 'InsufficientGpus'
  | 'SpreadConstraint';

export interface Unplaced {
  readonly pool: string;
  readonly replicaId: string;
  readonly gpus: number;
  readonly reason: UnplacedReason;
  /** One sentence a person can act on: what was needed and what the fleet offers instead. */
  readonly message: string;
}

export interface PlacementPlan {
  /** In the order they were decided (largest replicas first); each already allocated in the index. */
  readonly placements: readonly Placement[];
  readonly unplaced: readonly Unplaced[];
}
