// The resource a request path names, for the request counter's `resource` label: writes per resource
// (Nodes, ProviderNode status, Events, Services…) are what a fleet-scale bench compares, and the plural
// plus subresource keeps the label's values few (never a name or a namespace). The `verb` label tells a
// LIST (a GET of a collection, what an informer's relist is) from a GET of one object, as kube-apiserver's
// own request counter does: at fleet scale one LIST costs the apiserver what thousands of GETs do.

/**
 * `nodes`, `providernodes/status`, `pods/binding`, `events`… from an API path such as
 * `/api/v1/namespaces/ns/pods/p/binding` or `/apis/chrysalis.dev/v1alpha1/providernodes/n/status`;
 * `other` for a path outside /api and /apis.
 */
export function resourceOfPath(path: string): string {
  const rest = resourceSegments(path);
  if (!rest) return 'other';
  const [plural, , subresource] = rest;
  if (!plural) return 'other';
  return subresource ? `${plural}/${subresource}` : plural;
}

/** The request counter's verb: `LIST` for a GET of a collection (`/api/v1/namespaces/ns/pods`), else the method. */
export function verbOfRequest(method: string, path: string): string {
  return method === 'GET' && resourceSegments(path)?.length === 1 ? 'LIST' : method;
}

/** The path's segments from the resource's plural on ([plural, name?, subresource?]); undefined outside /api and /apis. */
function resourceSegments(path: string): string[] | undefined {
  const segments = path.split('?')[0]!.split('/').filter(Boolean);
  let rest: string[];
  if (segments[0] === 'api') rest = segments.slice(2);
  else if (segments[0] === 'apis') rest = segments.slice(3);
  else return undefined;
  // namespaces/<ns>/<plural>/… is a namespaced resource; namespaces[/<ns>[/<sub>]] is the Namespace itself.
  if (rest[0] === 'namespaces' && rest.length > 2) rest = rest.slice(2);
  return rest;
}
