// Running the CLI the way a user does: a child process of `node cli/bin/chrysalis.js`, with KUBECONFIG
// pointing at the shared test cluster, and helpers that create Chrysalis objects with a status.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import type { KubeConfig } from '@kubernetes/client-node';
import { InferencePools, ProviderNodes, SettlementAccounts } from '../../operator/src/kube/chrysalis-resources.js';
import { resourcePath, type ResourceType } from '../../operator/src/kube/resource.js';
import { RestClient } from '../../operator/src/kube/rest.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = resolve(REPO, 'cli/bin/chrysalis.js');
export const RUN_LABEL = 'chrysalis.dev/test-cli';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (no TTY, NO_COLOR unset: output must be plain because it is a pipe). */
export function runCli(args: readonly string[], env: Record<string, string | undefined> = {}, argv0 = BIN): Promise<CliResult> {
  return new Promise((resolveRun, reject) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
    const child = spawn(process.execPath, [argv0, ...args], { cwd: REPO, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ code: code ?? -1, stdout, stderr }));
  });
}

export const uniqueRun = (): string => randomBytes(3).toString('hex');

async function create(t: ExecutionContext, kc: KubeConfig, resource: ResourceType, namespace: string | undefined, body: Record<string, unknown>, status?: Record<string, unknown>): Promise<void> {
  const rest = new RestClient(kc);
  const name = (body.metadata as { name: string }).name;
  await rest.request('POST', resourcePath(resource, namespace), { body });
  t.teardown(async () => {
    await new RestClient(kc).request('DELETE', resourcePath(resource, namespace, name)).catch(() => undefined);
  });
  if (status) {
    await rest.request('PATCH', resourcePath(resource, namespace, name, 'status'), { contentType: 'application/merge-patch+json', body: { status } });
  }
  rest.close();
}

export function condition(type: string, status: 'True' | 'False', reason: string, message = '', minutesAgo = 5): Record<string, unknown> {
  return { type, status, reason, message, lastTransitionTime: new Date(Date.now() - minutesAgo * 60_000).toISOString().replace(/\.\d+Z$/, 'Z') };
}

export async function createProviderNode(
  t: ExecutionContext, kc: KubeConfig, name: string, run: string,
  spec: Record<string, unknown> = {}, status?: Record<string, unknown>,
): Promise<void> {
  await create(t, kc, ProviderNodes, undefined, {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'ProviderNode',
    metadata: { name, labels: { [RUN_LABEL]: run } },
    spec: { nodeName: name, tee: 'sev-snp', gpus: { model: 'H100', count: 8 }, payoutAddress: `0:${'c'.repeat(64)}`, ...spec },
  }, status);
}

export const POOL_SPEC = {
  model: { name: 'meta-llama/Llama-3.1-8B-Instruct', source: 'pvc://models/llama-3.1-8b-instruct', hash: 'a'.repeat(64) },
  runtime: { image: `docker.io/vllm/vllm-openai@sha256:${'0'.repeat(64)}` },
  replicas: { min: 2, max: 2 },
  gpusPerReplica: 2,
  gpuModels: ['H100'],
  settlementAccountRef: { name: 'sandbox' },
};

export async function createPool(
  t: ExecutionContext, kc: KubeConfig, namespace: string, name: string, run: string, status?: Record<string, unknown>,
): Promise<void> {
  await create(t, kc, InferencePools, namespace, {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'InferencePool',
    metadata: { name, namespace, labels: { [RUN_LABEL]: run } },
    spec: POOL_SPEC,
  }, status);
}

export async function createAccount(t: ExecutionContext, kc: KubeConfig, namespace: string, name: string, run: string): Promise<void> {
  await create(t, kc, SettlementAccounts, namespace, {
    apiVersion: 'chrysalis.dev/v1alpha1', kind: 'SettlementAccount',
    metadata: { name, namespace, labels: { [RUN_LABEL]: run } },
    spec: { network: 'sandbox', pricePerUnitNanoton: '1000' },
  });
}

export function attestedStatus(hoursValid = 1): Record<string, unknown> {
  const now = Date.now();
  return {
    conditions: [condition('Attested', 'True', 'EvidenceVerified', 'SEV-SNP and 8 GPUs verified'), condition('Quarantined', 'False', 'Attested')],
    attestation: {
      verifiedAt: new Date(now - 60_000).toISOString(),
      expiresAt: new Date(now + hoursValid * 3_600_000).toISOString(),
      measurement: 'ab'.repeat(48),
      imageHash: 'cd'.repeat(32),
      tcb: { bootloader: 3, tee: 0, snp: 14, microcode: 209 },
      chipId: 'ef'.repeat(64),
      gpus: [{ index: 0, model: 'H100', driverVersion: '550.54.15', vbiosVersion: '96.00.5E.00.01', ccMode: 'on' }],
    },
    capacity: { gpus: 8 },
    allocated: { gpus: 2 },
  };
}

export function quarantinedStatus(): Record<string, unknown> {
  return {
    conditions: [condition('Attested', 'False', 'EvidenceExpired', 'evidence expired 10m ago'), condition('Quarantined', 'True', 'EVIDENCE_EXPIRED', 'attestation lapsed')],
    quarantine: { reason: 'EVIDENCE_EXPIRED', since: new Date(Date.now() - 600_000).toISOString() },
    capacity: { gpus: 8 },
  };
}
