// A re-check of a node asked for by a person, ahead of the node's schedule: the annotation
// chrysalis.dev/reattest-requested-at on its ProviderNode (`chrysalis reattest` sets it to the current
// time; `kubectl annotate --overwrite` works too). The value is opaque: each value the controller has not
// answered yet gets one fresh challenge, and the controller records the value it answered in
// status.attestation.reattestRequest, so a request is answered once however often the node is planned.
// Nothing here weakens a check: a request only brings a challenge forward, and the node keeps the verdict
// its last evidence earned until the new evidence is judged.
import { createHash } from 'node:crypto';
import type { ProviderNode } from '../../api/providernode.js';
import { ANNOTATION_REATTEST_REQUEST } from '../../marks.js';

/** The longest value recorded as it is (the status field's maxLength); longer ones are recorded as their SHA-256. */
export const MAX_RECORDED_REQUEST_LENGTH = 128;

/** The request as status.attestation.reattestRequest records it once answered; undefined when none is set. */
export function reattestRequestOf(pn: ProviderNode): string | undefined {
  const value = pn.metadata.annotations?.[ANNOTATION_REATTEST_REQUEST];
  if (value === undefined || value === '') return undefined;
  return value.length <= MAX_RECORDED_REQUEST_LENGTH ? value : `sha256:${createHash('sha256').update(value).digest('hex')}`;
}
