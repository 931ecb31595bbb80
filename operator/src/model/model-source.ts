// The forms spec.model.source may take, parsed. The CRD refuses every other form (its CEL rules say the
// same thing to `kubectl apply`); this parser is what the pod builder and the model check rely on, so it
// refuses them again rather than guess.
//
//   pvc://<claim>[/<path>]   a PersistentVolumeClaim in the pool's namespace, mounted read-only; the model
//                            is the directory <path> in it (the whole volume when absent), checked in place.
//   http(s)://<host>/<path>  a tar archive (plain or gzip-compressed) on a cluster-local mirror, fetched
//                            into the replica's own volume and checked there. Plain http is accepted
//                            because nothing about the bytes is trusted: the model check computes their
//                            hash and the server starts only when it is spec.model.hash.
//
// Not supported yet: OCI artifacts (oci://), Hugging Face (hf://) and S3 (s3://).

export type ModelSource =
  | { kind: 'pvc'; claim: string; /** Directory inside the claim, '' for its root; never starts or ends with '/'. */ path: string }
  | { kind: 'http'; url: string };

export const SUPPORTED_MODEL_SOURCES =
  'pvc://<claim>[/<path>] (a PersistentVolumeClaim in the pool\'s namespace) or an http:// or https:// URL of a tar archive on a cluster-local mirror; OCI artifacts, hf:// and s3:// are not supported yet';

export class ModelSourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelSourceError';
  }
}

const CLAIM_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export function parseModelSource(source: string, field = 'spec.model.source'): ModelSource {
  if (/\s/.test(source)) throw new ModelSourceError(`${field} "${source}" contains whitespace; it must be ${SUPPORTED_MODEL_SOURCES}`);
  if (source.startsWith('pvc://')) {
    const rest = source.slice('pvc://'.length);
    const slash = rest.indexOf('/');
    const claim = slash < 0 ? rest : rest.slice(0, slash);
    const path = slash < 0 ? '' : rest.slice(slash + 1);
    if (!CLAIM_NAME.test(claim) || claim.length > 253) {
      throw new ModelSourceError(`${field} "${source}" names the claim "${claim}", which is not a PersistentVolumeClaim name (lowercase letters, digits, '-' and '.')`);
    }
    if (slash >= 0 && path.split('/').some((segment) => segment === '' || segment === '.' || segment === '..')) {
      throw new ModelSourceError(`${field} "${source}": the path inside the claim may not contain empty, . or .. segments (nor end in /); name the model's directory from the volume's root, e.g. pvc://models/llama-3.1-8b`);
    }
    return { kind: 'pvc', claim, path };
  }
  if (source.startsWith('http://') || source.startsWith('https://')) {
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      throw new ModelSourceError(`${field} "${source}" is not a URL; it must be ${SUPPORTED_MODEL_SOURCES}`);
    }
    if (!url.hostname || url.pathname === '/' || url.pathname === '') {
      throw new ModelSourceError(`${field} "${source}" names no archive; give the URL of the model's tar archive, e.g. http://models.mirror.svc/llama-3.1-8b.tar`);
    }
    return { kind: 'http', url: source };
  }
  throw new ModelSourceError(`${field} "${source}" is not supported; it must be ${SUPPORTED_MODEL_SOURCES}`);
}
