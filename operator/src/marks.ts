// Every name Chrysalis writes onto objects — labels, annotations, taints, readiness gates, field
// managers, the events' reporting controller — in one place, so the controllers, the attestation
// service, settlement, the CLI and the tests agree on them. No other file defines such a name.

/** The prefix every Chrysalis label below shares: the only labels the operator's caches keep (kube/cached-shape.ts). */
export const OWN_LABEL_PREFIX = 'chrysalis.dev/';

// ---- on Nodes (the ProviderNode controller) ----------------------------------------------------------

/** Set to "true" on a Node whose ProviderNode is attested and not quarantined. */
export const LABEL_ATTESTED = 'chrysalis.dev/attested';
/** NoSchedule taint kept on a Node until it is attested (and put back on quarantine). */
export const TAINT_UNATTESTED = 'chrysalis.dev/unattested';
/** The Node's TEE type and GPU model, mirrored from its ProviderNode for selectors and `kubectl get -L`. */
export const LABEL_TEE = 'chrysalis.dev/tee';
export const LABEL_GPU_MODEL = 'chrysalis.dev/gpu-model';
/** The ProviderNode a Node belongs to. */
export const LABEL_PROVIDER_NODE = 'chrysalis.dev/provider-node';

// ---- on ProviderNodes (set by people and the CLI) -------------------------------------------------------

/**
 * A re-check asked for now (`chrysalis reattest`, or `kubectl annotate`): each new value of this annotation
 * makes the ProviderNode controller challenge the node once, ahead of its schedule (after a firmware
 * update, or when the host is suspect). The value is opaque; the CLI writes the current time. It can only
 * bring a challenge forward: the node stays as attested as its evidence makes it.
 */
export const ANNOTATION_REATTEST_REQUEST = 'chrysalis.dev/reattest-requested-at';

// ---- on replica Pods (the InferencePool controller, the attestation service) -------------------------

/** On replica Pods: the owning pool's name, and the replica's stable index within the pool. */
export const LABEL_POOL = 'chrysalis.dev/pool';
export const LABEL_REPLICA = 'chrysalis.dev/replica';
/**
 * On replica Pods: a digest of the parts of the pool's spec the Pod was built from (spec.model,
 * spec.runtime, spec.gpusPerReplica; controllers/inferencepool/template-hash.ts). A replica whose value
 * differs from the pool's current one is outdated and is replaced, surge first.
 */
export const LABEL_TEMPLATE_HASH = 'chrysalis.dev/template-hash';
/** Pod readiness gate flipped to True when the replica's own evidence passes. */
export const READINESS_GATE_ATTESTED = 'chrysalis.dev/attested';
/** On a replica Pod: the attestation service's CA (PEM), projected into the sidecar as the file its --ca reads. */
export const ANNOTATION_ATTESTATION_CA = 'chrysalis.dev/attestation-ca';
/**
 * Set to "true" on a replica Pod by the InferencePool controller only while its attestation is verified
 * and fresh, and removed before the gate is turned back False: the pool's Service and Gateway API
 * InferencePool select on it, so routing drops a lapsing replica before readiness does. The same key as
 * the Nodes' label (different objects); only the controllers may add it (the chart's admission policy).
 */
export const LABEL_REPLICA_ATTESTED = LABEL_ATTESTED;
export const LABEL_REPLICA_ATTESTED_VALUE = 'true';
// A replica's challenge, key and key expiry are never Pod annotations (anyone who may patch Pods could
// write them): they live on its host's ProviderNode status. The annotations earlier versions wrote
// (chrysalis.dev/attestation-challenge, -key, -expires) are neither read nor written.
/** The scheduler name replica Pods carry: kube-scheduler leaves them to the operator. */
export const SCHEDULER_NAME = 'chrysalis';

// ---- on settlement's Secrets and ConfigMaps ------------------------------------------------------------

/** The label (and value) a Secret must carry before the operator uses it as a wallet or operator key. */
export const LABEL_WALLET = 'chrysalis.dev/wallet';
export const LABEL_WALLET_VALUE = 'true';
/** An epoch's leaves ConfigMaps: the account and epoch they belong to, and what they add up to. */
export const LABEL_SETTLEMENT_ACCOUNT = 'chrysalis.dev/settlement-account';
export const LABEL_EPOCH = 'chrysalis.dev/epoch';
export const ANNOTATION_ROOT = 'chrysalis.dev/root';
export const ANNOTATION_TOTAL = 'chrysalis.dev/total';
export const ANNOTATION_PAYEES = 'chrysalis.dev/payees';
export const ANNOTATION_PARTS = 'chrysalis.dev/parts';
/** On the ConfigMap `chrysalis collateral import` fills: it holds a TDX collateral bundle. */
export const LABEL_COLLATERAL_BUNDLE = 'chrysalis.dev/collateral-bundle';
/**
 * On the default AttestationPolicy the operator creates: how to change it, and that the operator never
 * will (it creates the policy only while none of that name exists).
 */
export const ANNOTATION_EDIT = 'chrysalis.dev/edit';
/** The standard label saying which application an object belongs to. */
export const LABEL_PART_OF = 'app.kubernetes.io/part-of';
export const PART_OF_CHRYSALIS = 'chrysalis';

// ---- who wrote it ----------------------------------------------------------------------------------------

/** The controllers' field manager for server-side apply and their other writes. */
export const FIELD_MANAGER = 'chrysalis-operator';
/** The attestation service's writes: its own manager, so the controllers' applies never remove them. */
export const SERVICE_FIELD_MANAGER = 'chrysalis-attestation-service';
/** Metering's writes (ProviderNode status.usage, status.usageCursors). */
export const METERING_FIELD_MANAGER = 'chrysalis-metering';
/** The CLI's writes (`chrysalis collateral import`). */
export const CLI_FIELD_MANAGER = 'chrysalis-cli';
/** The reportingController of the operator's Events. */
export const REPORTING_CONTROLLER = 'chrysalis.dev/operator';
