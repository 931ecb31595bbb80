// The resource a request path names, for the request counter's `resource` label: writes per resource
// (Nodes, ProviderNode status, Events, Services…) are what a fleet-scale bench compares, and the plural
// plus subresource keeps the label's values few (never a name or a namespace).

/**
 * `nodes`, `providernodes/status`, `pods/binding`, `events`… from an API path such as
 * `/api/v1/namespaces/ns/pods/p/binding` or `/apis/chrysalis.dev/v1alpha1/providernodes/n/status`;
 * `other` for a path outside /api and /apis.
 */
export function resourceOfPath(path: string): string {
  const segments = path.split('?')[0]!.split('/').filter(Boolean);
  let rest: string[];
  if (segments[0] === 'api') rest = segments.slice(2);
  else if (segments[0] === 'apis') rest = segments.slice(3);
  else return 'other';
  // namespaces/<ns>/<plural>/… is a namespaced resource; namespaces[/<ns>[/<sub>]] is the Namespace itself.
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  const [plural, , subresource] = rest;
  if (!plural) return 'other';
  return subresource ? `${plural}/${subresource}` : plural;
}
