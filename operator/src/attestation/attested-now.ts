// Whether a ProviderNode's attestation holds at a moment: its Attested condition True and its verified
// evidence's expiresAt still ahead. The condition is what the ProviderNode controller last wrote, and it
// turns False at the expiry only when the controller reconciles the node then. In the chaos bench at
// 2,000 nodes, with the controller's reconciles waiting in a backlog, a node whose attestation had
// expired still read Attested=True 6.5 minutes later. The expiry needs no reconcile, so it is checked
// here too: past it, or without one, the node is not attested (fail closed).
import type { ProviderNode } from '../api/providernode.js';

export function attestedNow(pn: Pick<ProviderNode, 'status'> | undefined, now: Date): boolean {
  const condition = pn?.status?.conditions?.some((c) => c.type === 'Attested' && c.status === 'True') ?? false;
  const expiresAt = Date.parse(pn?.status?.attestation?.expiresAt ?? '');
  return condition && Number.isFinite(expiresAt) && expiresAt > now.getTime();
}
