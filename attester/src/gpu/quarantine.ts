// When the operator's quarantine of the node withholds released GPUs. The attester hears the verdicts on
// its own evidence, which withhold the GPUs on a rejection or a lapse; a quarantine for a cause its
// evidence does not show (GpuStateChanged: the Node advertises another GPU count than attested) it learns
// from the service's /v1/standing, read while the GPUs are released (Attester's challenge poll).
//
// Rule: a quarantine that became True after the node's last verified evidence withholds the GPUs, and
// only a fresh verified answer releases them again (release follows verdicts only, never the standing).
// A quarantine that began before that evidence is what the fresh evidence answers: the operator lifts it
// (Recovered) once it sees the evidence, and the release stands. Condition times have whole seconds and
// verifiedAt milliseconds, so a quarantine is "before" only when its whole second ended by verifiedAt.
// A standing that lacks either time while quarantined withholds (fail closed).
import type { NodeStanding } from '../../../operator/src/attestation/service/protocol.js';

/** Why the GPUs must be withheld under `standing`, or undefined when the standing does not call for it. */
export function quarantineWithholds(standing: NodeStanding): string | undefined {
  if (!standing.quarantined) return undefined;
  const since = Date.parse(standing.quarantinedSince ?? '');
  const verified = Date.parse(standing.verifiedAt ?? '');
  if (Number.isFinite(since) && Number.isFinite(verified) && since + 1000 <= verified) return undefined;
  const why = `${standing.quarantineReason ?? 'Quarantined'}${standing.quarantineMessage ? `: ${standing.quarantineMessage}` : ''}`;
  return `the operator quarantined the node (${why}) since ${standing.quarantinedSince ?? 'an unknown time'}, after its last verified evidence (${standing.verifiedAt ?? 'none recorded'}); released again only after fresh verified evidence`;
}
