// The digest of what a replica is built from, recorded on each replica Pod (label
// chrysalis.dev/template-hash) so the plan can tell a replica that serves the pool's current model from
// one built for an earlier spec. Pure.
//
// What goes in, and why these fields rather than the built Pod:
//  - spec.model (name, source, hash, revision, file): what the model check fetches and verifies and what
//    the server loads and names;
//  - spec.runtime (server, image, args, port, env): the server process itself;
//  - spec.gpusPerReplica: the GPUs the Pod requests and vLLM's --tensor-parallel-size.
// The built Pod also depends on its node (nodeName, runtimeClass, TEE access) and on the operator's
// config (attester image, attestation service URL, CA): hashing it would give every replica of one pool a
// different value and make an operator upgrade replace every replica of every pool. What the pool's
// author changes is what rolls the pool.
//
// Defaults the CRD fills in (server vllm, port 8000, gpusPerReplica 1, no revision, no args, no env) are
// filled in here too, so a pool read before and after the apiserver defaulted it has the same digest; the
// fields are listed one by one (not the objects hashed whole) so a field added to the CRD later does not
// change the digest of every existing pool by being defaulted. test/inferencepool/template-hash.test.ts
// fails when spec.model or spec.runtime gains a field this list does not name.
//
// 16 hex characters (64 bits) of a SHA-256: a label value (at most 63 characters) that `kubectl get pods
// -L chrysalis.dev/template-hash` shows; a digest that tells specs of one pool apart, not a commitment
// anyone verifies (the model check and attestation do that).
import { createHash } from 'node:crypto';
import type { InferencePool } from '../../api/index.js';
import { DEFAULT_SERVER_PORT, serverKindOf } from '../../model/server-args.js';

export const TEMPLATE_HASH_LENGTH = 16;

/** The fields a replica is built from, with the CRD's defaults filled in. */
export function replicaTemplate(pool: InferencePool): unknown {
  const { model, runtime } = pool.spec;
  return {
    v: 'chrysalis-replica-template-v1',
    model: { name: model.name, source: model.source, hash: model.hash, revision: model.revision ?? '', file: model.file ?? null },
    runtime: {
      server: serverKindOf(pool),
      image: runtime.image,
      args: runtime.args ?? [],
      port: runtime.port ?? DEFAULT_SERVER_PORT,
      // Order kept: a later variable may refer to an earlier one.
      env: (runtime.env ?? []).map((e) => [e.name, e.value ?? '']),
    },
    // As pod-builder.ts's gpusPerReplica (not imported: the builder imports this file).
    gpusPerReplica: pool.spec.gpusPerReplica ?? 1,
  };
}

export function replicaTemplateHash(pool: InferencePool): string {
  return createHash('sha256').update(JSON.stringify(replicaTemplate(pool))).digest('hex').slice(0, TEMPLATE_HASH_LENGTH);
}
