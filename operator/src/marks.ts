// The names Chrysalis puts on other people's objects — Nodes, Pods — in one place, so the controllers,
// the chart, the CLI and the tests agree on them.

/** Set to "true" on a Node whose ProviderNode is attested and not quarantined. */
export const LABEL_ATTESTED = 'chrysalis.dev/attested';
/** NoSchedule taint kept on a Node until it is attested (and put back on quarantine). */
export const TAINT_UNATTESTED = 'chrysalis.dev/unattested';
/** The Node's TEE type and GPU model, mirrored from its ProviderNode for selectors and `kubectl get -L`. */
export const LABEL_TEE = 'chrysalis.dev/tee';
export const LABEL_GPU_MODEL = 'chrysalis.dev/gpu-model';
/** The ProviderNode a Node belongs to. */
export const LABEL_PROVIDER_NODE = 'chrysalis.dev/provider-node';

/** On replica Pods: the owning pool's name, and the replica's stable index within the pool. */
export const LABEL_POOL = 'chrysalis.dev/pool';
export const LABEL_REPLICA = 'chrysalis.dev/replica';
/** Pod readiness gate flipped to True when the replica's own evidence passes. */
export const READINESS_GATE_ATTESTED = 'chrysalis.dev/attested';

/** The operator's field manager for server-side apply. */
export const FIELD_MANAGER = 'chrysalis-operator';
/** The scheduler name replica Pods carry: kube-scheduler leaves them to the operator. */
export const SCHEDULER_NAME = 'chrysalis';
