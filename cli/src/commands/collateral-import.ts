// `chrysalis collateral import DIR`: stores an offline collateral bundle (Intel PCS files: TCB info and QE
// identity JSON, the TCB signing chain PEM, CRLs in DER) in the ConfigMap the chart mounts into the
// attestation service (BUNDLE_CONFIGMAP, in the operator's namespace: -n), for clusters that cannot reach
// a PCCS. Every file is checked first, and nothing is written unless all pass: each must be collateral,
// TCB info and QE identity must be signed by a TCB signing chain (in the bundle) to the pinned Intel root,
// the root CA CRL by the root. A PCK CA's CRL is checked against the quote's own CA when it is used.
// AMD CRLs (DER) issued under a pinned ARK's name must be validly signed by it; NVIDIA OCSP responses (DER)
// must parse as successful responses (their signer is judged against the certificate's issuer when they
// are used). The service checks everything again when it uses it. Exit codes: 0 imported, 2 unusable
// input or cluster.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { crlIssuedBy, crlSignatureValid, parseCrl } from '../../../operator/src/attestation/crl.js';
import { isOcspResponse } from '../../../operator/src/attestation/collateral/bundle-dir.js';
import { collateralSignatureProblem } from '../../../operator/src/attestation/collateral/tdx-cache.js';
import { parseOcspResponse } from '../../../operator/src/attestation/ocsp.js';
import { amdAnchors } from '../../../operator/src/attestation/sev-snp/amd-roots.js';
import { collateralState } from '../../../operator/src/attestation/collateral/status.js';
import { collateralFromFiles, parseQeIdentity, parseTcbInfo } from '../../../operator/src/attestation/tdx/collateral.js';
import { intelAnchor } from '../../../operator/src/attestation/tdx/intel-root.js';
import { ConfigMaps, resourcePath } from '../../../operator/src/kube/resource.js';
import { decodeUtf8Strict } from '../../../operator/src/util/strict-utf8.js';
import { RestClient } from '../../../operator/src/kube/rest.js';
import { CLI_FIELD_MANAGER, LABEL_COLLATERAL_BUNDLE, LABEL_PART_OF, PART_OF_CHRYSALIS } from '../../../operator/src/marks.js';
import { connect, UsageError } from '../kube.js';
import { renderTable } from '../views/table.js';

/** The ConfigMap the chart mounts (optional) at the attestation service's collateral.bundleDir. */
export const BUNDLE_CONFIGMAP = 'chrysalis-collateral-bundle';
/** A ConfigMap holds at most 1 MiB. */
const MAX_BUNDLE_BYTES = 1024 * 1024 - 16 * 1024;
const KEY = /^[-._a-zA-Z0-9]+$/;

export interface BundleFile {
  name: string;
  bytes: Uint8Array;
}

export interface BundleItem {
  file: string;
  kind: 'tcb-info' | 'qe-identity' | 'crl' | 'amd-crl' | 'ocsp' | 'chain';
  key: string;
  issuedAt?: string;
  nextUpdate?: string;
  /** fresh/refresh-due/stale at the time checked; undefined for a chain. */
  state?: string;
}

/** Checks every file of a bundle at `now`; throws UsageError naming the first file that fails. */
export function inspectBundle(files: readonly BundleFile[], now: Date): BundleItem[] {
  if (files.length === 0) throw new UsageError('the directory has no files: put the PCS files (TCB info, QE identity, TCB signing chain, CRLs), AMD CRLs or NVIDIA OCSP responses in it');
  const items: BundleItem[] = [];
  let chain: Uint8Array[] = [];
  for (const f of files) {
    if (!KEY.test(f.name)) throw new UsageError(`${f.name}: a ConfigMap key may hold only letters, digits, "-", "_" and "."; rename the file`);
    if (isOcspResponse(f.bytes)) continue;
    let sorted;
    try {
      sorted = collateralFromFiles([f]);
    } catch (err) {
      throw new UsageError(`${f.name}: ${(err as Error).message}`);
    }
    chain = [...chain, ...(sorted.issuerChain ?? [])];
  }
  const state = (next: Date) => collateralState(now, next, 0);
  for (const f of files) {
    if (isOcspResponse(f.bytes)) {
      let r;
      try {
        r = parseOcspResponse(f.bytes);
      } catch (err) {
        throw new UsageError(`${f.name}: ${(err as Error).message}`);
      }
      for (const single of r.responses) {
        items.push({ file: f.name, kind: 'ocsp', key: `serial ${single.certId.serial} ${single.status}`, issuedAt: single.thisUpdate.toISOString(), ...(single.nextUpdate ? { nextUpdate: single.nextUpdate.toISOString(), state: state(single.nextUpdate) } : {}) });
      }
      continue;
    }
    const one = collateralFromFiles([f]);
    for (const text of one.tcbInfos ?? []) {
      const parsed = parseTcbInfo(text);
      const problem = collateralSignatureProblem(parsed, chain, now, `${f.name} (TCB info)`);
      if (problem) throw new UsageError(problem);
      items.push({ file: f.name, kind: 'tcb-info', key: parsed.body.fmspc.toLowerCase(), issuedAt: parsed.body.issueDate, nextUpdate: parsed.body.nextUpdate, state: state(new Date(parsed.body.nextUpdate)) });
    }
    for (const text of one.qeIdentities ?? []) {
      const parsed = parseQeIdentity(text);
      const problem = collateralSignatureProblem(parsed, chain, now, `${f.name} (QE identity)`);
      if (problem) throw new UsageError(problem);
      items.push({ file: f.name, kind: 'qe-identity', key: parsed.body.id, issuedAt: parsed.body.issueDate, nextUpdate: parsed.body.nextUpdate, state: state(new Date(parsed.body.nextUpdate)) });
    }
    for (const der of one.crls ?? []) {
      let crl;
      try {
        crl = parseCrl(der);
      } catch (err) {
        throw new UsageError(`${f.name}: not a CRL (${(err as Error).message})`);
      }
      const ark = amdAnchors().find((a) => crlIssuedBy(crl, a.cert));
      if (ark) {
        if (!crlSignatureValid(crl, ark.cert)) throw new UsageError(`${f.name}: names ${ark.name} as issuer but its signature does not verify`);
        items.push({ file: f.name, kind: 'amd-crl', key: ark.generation, issuedAt: crl.thisUpdate.toISOString(), ...(crl.nextUpdate ? { nextUpdate: crl.nextUpdate.toISOString(), state: state(crl.nextUpdate) } : {}) });
        continue;
      }
      const root = intelAnchor().cert;
      const byRoot = crlIssuedBy(crl, root);
      if (byRoot && !crlSignatureValid(crl, root)) throw new UsageError(`${f.name}: names the Intel SGX Root CA as issuer but its signature does not verify`);
      items.push({ file: f.name, kind: 'crl', key: byRoot ? 'root' : 'pck-ca', issuedAt: crl.thisUpdate.toISOString(), ...(crl.nextUpdate ? { nextUpdate: crl.nextUpdate.toISOString(), state: state(crl.nextUpdate) } : {}) });
    }
    if ((one.issuerChain ?? []).length) items.push({ file: f.name, kind: 'chain', key: `${one.issuerChain!.length} certificate(s)` });
  }
  const size = files.reduce((n, f) => n + f.bytes.length, 0);
  if (size > MAX_BUNDLE_BYTES) throw new UsageError(`the bundle is ${size} bytes; a ConfigMap holds under 1 MiB: leave out TCB infos for FMSPCs the fleet does not have`);
  return items;
}

/** The ConfigMap for a checked bundle: text files in data, binary (DER) ones in binaryData. */
export function bundleConfigMap(files: readonly BundleFile[], namespace: string): Record<string, unknown> {
  const data: Record<string, string> = {};
  const binaryData: Record<string, string> = {};
  for (const f of files) {
    // The BOM is kept: the ConfigMap must hold the file's bytes, which the operator checks as they are.
    const text = decodeUtf8Strict(f.bytes, { keepBom: true });
    if (text !== undefined && f.bytes[0] !== 0x30) data[f.name] = text;
    else binaryData[f.name] = Buffer.from(f.bytes).toString('base64');
  }
  return {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name: BUNDLE_CONFIGMAP, namespace, labels: { [LABEL_PART_OF]: PART_OF_CHRYSALIS, [LABEL_COLLATERAL_BUNDLE]: 'true' } },
    data, binaryData,
  };
}

function readDir(dir: string): BundleFile[] {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new UsageError(`${dir}: not a directory`);
    names = readdirSync(dir);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${dir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message}`);
  }
  return names
    .filter((n) => !n.startsWith('.') && statSync(join(dir, n)).isFile())
    .sort()
    .map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) }));
}

export function registerCollateralImport(collateral: Command): void {
  collateral
    .command('import')
    .argument('<dir>', 'directory of Intel PCS files (TCB info and QE identity JSON, the TCB signing chain PEM, CRLs), AMD CRLs and NVIDIA OCSP responses (DER)')
    .summary('store an offline collateral bundle for the attestation service (clusters without a PCCS)')
    .description(
      `Checks every file in DIR (collateral, signed by Intel's TCB signing chain to the pinned root; the root CRL by the root; an AMD CRL by its pinned ARK; an OCSP response parses) and stores them in the ConfigMap ${BUNDLE_CONFIGMAP} in the operator's namespace (-n), which the chart mounts into the attestation service (collateral.bundleDir). ` +
        'Nothing is written unless every file passes. The service checks them again when it uses them and prefers newer collateral from a PCCS.\n' +
        'Exit 0: imported; 2: a file is unusable or the cluster cannot be used.',
    )
    .action(async (dir: string, _flags: unknown, command: Command) => {
      const files = readDir(dir);
      const items = inspectBundle(files, new Date());
      const cluster = connect(command);
      const rest = new RestClient(cluster.kc, { userAgent: 'chrysalis-cli', timeoutMs: 15_000 });
      try {
        await rest.request('PATCH', resourcePath(ConfigMaps, cluster.namespace, BUNDLE_CONFIGMAP), {
          contentType: 'application/apply-patch+yaml',
          query: { fieldManager: CLI_FIELD_MANAGER, force: 'true' },
          body: bundleConfigMap(files, cluster.namespace),
        });
      } catch (err) {
        throw new UsageError(`cannot write ConfigMap ${cluster.namespace}/${BUNDLE_CONFIGMAP}: ${(err as Error).message.split('\n')[0]}`);
      } finally {
        rest.close();
        cluster.close();
      }
      const rows = items.map((i) => [i.file, i.kind, i.key, i.nextUpdate ?? '', i.state ?? '']);
      process.stdout.write(`imported ${files.length} file(s) into ConfigMap ${cluster.namespace}/${BUNDLE_CONFIGMAP}\n\n${renderTable(['file', 'kind', 'key', 'next update', 'state now'], rows)}`);
      const stale = items.filter((i) => i.state === 'stale');
      if (stale.length) process.stdout.write(`\nwarning: ${stale.length} item(s) are already past nextUpdate: evidence that needs them is refused (COLLATERAL_INVALID) until newer ones are imported or fetched\n`);
    });
}
