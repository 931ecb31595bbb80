// `chrysalis chat <pool> "prompt"`: sends one OpenAI-compatible chat completion to a replica of the pool,
// after verifying that replica itself over RA-TLS (cli/src/client/): the evidence in its certificate and
// a fresh answer to the client's own nonce must pass the AttestationPolicy, and the certificate key must be
// the key the evidence binds. Only then is the prompt sent, over that same connection. Prints the verdict
// (TEE, measurement, GPUs, policy) with the answer.
//
// Where it connects: --endpoint host:port; else, inside the cluster, the pool's Service
// (status.endpoint); else the pool's Ready replica Pods by Pod IP on their `https` port (reachable where
// Pod IPs route: in the cluster, on a node). Replicas that cannot be reached are skipped; a replica that
// is reached and refused ends the command (a refusal is news, not something to route around silently).
// Which policy: --policy NAME, else the policy of the ProviderNode hosting the pool's replicas (what the
// attestation service verifies them against; `default` when a host names none), with the replica allow
// lists in place of the node ones when the hosts are pod-cvm (as the service does); --policy-file reads
// one from YAML without the cluster, applied as written.
//
// Exit codes: 0 verified and answered; 1 refused (the reason code is printed), unreachable, or the
// replica's answer was an error; 2 unusable input (a flag, the pool, the cluster).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import type { AttestationPolicy, InferencePool, ProviderNode } from '../../../operator/src/api/index.js';
import { parsePolicy, type VerifierPolicy } from '../../../operator/src/attestation/policy.js';
import { AttestationError } from '../../../operator/src/attestation/reasons.js';
import { collateralFromFiles, type TdxCollateral } from '../../../operator/src/attestation/tdx/collateral.js';
import { podCvmReplicaPolicy, topologyOf, type Topology } from '../../../operator/src/attestation/service/replica-topology.js';
import { AttestationPolicies, InferencePools, ProviderNodes } from '../../../operator/src/kube/chrysalis-resources.js';
import { Pods, type KubeObject } from '../../../operator/src/kube/resource.js';
import { LABEL_POOL } from '../../../operator/src/marks.js';
import { chatCompletion, ChatFailed, connectAttested, ReplicaRefused, ReplicaUnreachable, type AttestedConnection, type ChatAnswer, type ReplicaVerdict } from '../client/index.js';
import { connect, UsageError, type Cluster } from '../kube.js';

/** The attester sidecar's RA-TLS port (the replica Pod's container port named `https`). */
const HTTPS_PORT_NAME = 'https';
const DEFAULT_REPLICA_HTTPS_PORT = 8443;
const DEFAULT_POLICY_NAME = 'default';

interface ChatFlags {
  output: 'text' | 'json';
  maxTokens?: number;
  temperature?: number;
  seed?: number;
  stream?: boolean;
  endpoint?: string;
  policy?: string;
  policyFile?: string;
  model?: string;
  collateral?: string;
  timeout: number;
}

interface Target {
  host: string;
  port: number;
  /** What the target is, for the output: a replica Pod, the pool's Service, or the --endpoint given. */
  label: string;
  nodeName?: string;
}

function positiveInt(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`${flag} must be a whole number ≥ 1`);
    return Number(value);
  };
}

/** The OpenAI API's temperature range, 0 to 2 (the engine refuses anything outside it too). */
function temperature(value: string): number {
  const t = Number(value);
  if (value.trim() === '' || !Number.isFinite(t) || t < 0 || t > 2) throw new InvalidArgumentError('--temperature must be a number from 0 to 2 (0: always the likeliest token)');
  return t;
}

/** A whole number the engine accepts as a seed (a 32-bit value, signed or not). */
function seed(value: string): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || n < -(2 ** 31) || n > 2 ** 32 - 1) throw new InvalidArgumentError(`--seed must be a whole number from ${-(2 ** 31)} to ${2 ** 32 - 1}`);
  return n;
}

/** host:port, [v6]:port. */
export function parseEndpoint(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s/]+)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) throw new UsageError(`--endpoint must be host:port (e.g. 10.0.0.7:8443 or [fd00::7]:8443), got "${text}"`);
  return { host: (m[1] ?? m[2])!, port };
}

/** TDX collateral from a directory of Intel PCS files (as `chrysalis attest verify --collateral` reads). */
function readCollateralDir(dir: string): TdxCollateral {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new UsageError(`--collateral ${dir}: not a directory`);
    names = readdirSync(dir).filter((n) => !n.startsWith('.') && statSync(join(dir, n)).isFile()).sort();
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--collateral ${dir}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return collateralFromFiles(names.map((name) => ({ name, bytes: new Uint8Array(readFileSync(join(dir, name))) })));
  } catch (err) {
    throw new UsageError(`--collateral ${dir}: ${(err as Error).message}; give a directory of Intel PCS TCB info and QE identity JSON, the TCB signing chain PEM and CRLs (DER)`);
  }
}

function readPolicyFile(path: string): VerifierPolicy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--policy-file ${path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return parsePolicy(parseYaml(text));
  } catch (err) {
    throw new UsageError(`--policy-file ${path}: ${(err as Error).message.split('\n')[0]}`);
  }
}

interface PodShape extends KubeObject {
  spec?: { nodeName?: string; containers?: { ports?: { name?: string; containerPort?: number }[] }[] };
  status?: { podIP?: string; conditions?: { type: string; status: string }[] };
}

function httpsPortOf(pod: PodShape): number {
  for (const c of pod.spec?.containers ?? []) for (const p of c.ports ?? []) if (p.name === HTTPS_PORT_NAME && p.containerPort) return p.containerPort;
  return DEFAULT_REPLICA_HTTPS_PORT;
}

/** The pool's Ready replica Pods (controlled by this pool), by name. */
async function readyReplicas(cluster: Cluster, pool: InferencePool): Promise<PodShape[]> {
  const pods = await cluster.list<PodShape>(Pods, { labelSelector: `${LABEL_POOL}=${pool.metadata.name}`, namespace: pool.metadata.namespace ?? cluster.namespace });
  return pods
    .filter((p) => p.metadata?.ownerReferences?.some((o) => o.controller && o.kind === 'InferencePool' && o.uid === pool.metadata.uid))
    .filter((p) => p.status?.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))
    .sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
}

function targetsFor(pool: InferencePool, replicas: PodShape[]): Target[] {
  const targets: Target[] = [];
  const endpoint = pool.status?.endpoint;
  // The Service's name resolves only inside the cluster (a Pod's resolver); outside, Pod IPs are tried.
  if (endpoint?.service && process.env.KUBERNETES_SERVICE_HOST) {
    targets.push({ host: `${endpoint.service}.${pool.metadata.namespace}.svc`, port: 443, label: `service ${endpoint.service}` });
  }
  for (const pod of replicas) {
    targets.push({ host: pod.status!.podIP!, port: httpsPortOf(pod), label: `replica ${pod.metadata?.name}`, ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}) });
  }
  if (targets.length === 0) throw new UsageError(`InferencePool "${pool.metadata.name}" has no Ready replica to talk to (chrysalis pools shows why); or pass --endpoint host:port`);
  return targets;
}

/**
 * What the attestation service verifies these replicas with: their hosts' policyRef (`default` when a host
 * names none) and topology (a pod-cvm replica is its own VM, checked against the policy's replica lists).
 */
async function hostsOf(cluster: Cluster, replicas: PodShape[]): Promise<{ policyName: string; topology: Topology }> {
  const nodes = new Set(replicas.map((p) => p.spec?.nodeName).filter((n): n is string => !!n));
  if (nodes.size === 0) return { policyName: DEFAULT_POLICY_NAME, topology: 'node-cvm' };
  const pnodes = await cluster.list<ProviderNode>(ProviderNodes);
  const names = new Set<string>();
  const topologies = new Set<Topology>();
  for (const node of nodes) {
    const pn = pnodes.find((p) => p.spec.nodeName === node);
    names.add(pn?.spec.policyRef?.name ?? DEFAULT_POLICY_NAME);
    topologies.add(pn ? topologyOf(pn) : 'node-cvm');
  }
  if (names.size > 1) throw new UsageError(`the pool's replicas run on hosts verified under different AttestationPolicies (${[...names].sort().join(', ')}); pass --policy NAME`);
  if (topologies.size > 1) throw new UsageError("the pool's replicas run on both node-cvm and pod-cvm hosts, whose replicas are checked against different allow lists; pass --endpoint to pick one replica");
  return { policyName: [...names][0]!, topology: [...topologies][0]! };
}

async function clusterPolicy(cluster: Cluster, name: string, topology: Topology): Promise<VerifierPolicy> {
  const policy = await cluster.get<AttestationPolicy>(AttestationPolicies, name);
  let spec = policy.spec;
  if (topology === 'pod-cvm') {
    const replicaPolicy = podCvmReplicaPolicy(spec, name);
    if ('reason' in replicaPolicy) throw new RefusedBeforeConnecting(replicaPolicy.reason.code, replicaPolicy.reason.message);
    spec = replicaPolicy.spec;
  }
  try {
    return parsePolicy({ kind: 'AttestationPolicy', apiVersion: policy.apiVersion, spec });
  } catch (err) {
    throw new RefusedBeforeConnecting(err instanceof AttestationError ? err.code : 'POLICY_INVALID', `AttestationPolicy "${name}": ${(err as Error).message}`);
  }
}

class RefusedBeforeConnecting extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

function verdictLines(verdict: ReplicaVerdict, policyName: string, target: Target): string[] {
  const gpus = verdict.gpus.length
    ? verdict.gpus.map((g) => [g.model ?? 'unknown GPU', g.driverVersion ? `driver ${g.driverVersion}` : '', g.ccMode ? `CC ${g.ccMode}` : ''].filter(Boolean).join(' ')).join(', ')
    : 'none';
  return [
    `verified:     ${verdict.verified ? 'yes' : 'no'} (${target.label} at ${target.host}:${target.port}${target.nodeName ? ` on ${target.nodeName}` : ''})`,
    `tee:          ${verdict.tee ?? 'unknown'}`,
    ...(verdict.measurement ? [`measurement:  ${verdict.measurement}`] : []),
    ...(verdict.imageHash ? [`image hash:   ${verdict.imageHash}`] : []),
    `gpus:         ${gpus}`,
    `policy:       ${policyName}`,
    ...(verdict.publicKey ? [`key:          ${verdict.publicKey}`] : []),
    ...(verdict.certificate ? [`certificate:  evidence from ${verdict.certificate.notBefore}, valid until ${verdict.certificate.notAfter}`] : []),
    ...(verdict.freshEvidence !== undefined ? [`fresh:        ${verdict.freshEvidence ? 'answered the client nonce' : 'did not answer the client nonce'}`] : []),
    ...verdict.reasons.map((r) => `reason:       ${r.code}: ${r.message}`),
  ];
}

async function runChat(poolName: string, prompt: string, flags: ChatFlags, command: Command): Promise<void> {
  const explicit = flags.endpoint !== undefined ? parseEndpoint(flags.endpoint) : undefined;
  if (flags.policy !== undefined && flags.policyFile !== undefined) throw new UsageError('--policy and --policy-file name the policy two ways; give one');
  const tdxCollateral = flags.collateral !== undefined ? readCollateralDir(flags.collateral) : undefined;
  const needsCluster = !(explicit && flags.model && flags.policyFile);
  const cluster = needsCluster ? connect(command) : undefined;
  const out = (line: string) => process.stdout.write(`${line}\n`);
  try {
    const pool = cluster ? await cluster.get<InferencePool>(InferencePools, poolName) : undefined;
    const replicas = cluster && pool ? await readyReplicas(cluster, pool) : [];
    const targets: Target[] = explicit ? [{ ...explicit, label: `--endpoint` }] : targetsFor(pool!, replicas);
    const hosts = flags.policyFile ? undefined : await hostsOf(cluster!, replicas);
    const policyName = flags.policyFile ?? flags.policy ?? hosts!.policyName;
    let policy: VerifierPolicy;
    try {
      policy = flags.policyFile ? readPolicyFile(flags.policyFile) : await clusterPolicy(cluster!, policyName, hosts!.topology);
    } catch (err) {
      if (!(err instanceof RefusedBeforeConnecting)) throw err;
      if (flags.output === 'json') out(JSON.stringify({ verified: false, code: err.code, reasons: [{ code: err.code, message: err.message }], policy: policyName }));
      else out(`refused: ${err.code}: ${err.message}`);
      process.exitCode = 1;
      return;
    }
    const model = flags.model ?? pool?.spec.model.name;
    if (!model) throw new UsageError('--model is required when the pool cannot be read');

    let connection: AttestedConnection | undefined;
    let target: Target | undefined;
    const unreachable: string[] = [];
    for (const candidate of targets) {
      try {
        connection = await connectAttested({ host: candidate.host, port: candidate.port, policy, timeoutMs: flags.timeout * 1000, ...(tdxCollateral ? { tdxCollateral } : {}) });
        target = candidate;
        break;
      } catch (err) {
        if (err instanceof ReplicaRefused) {
          if (flags.output === 'json') out(JSON.stringify({ verified: false, code: err.code, reasons: err.verdict.reasons, verdict: err.verdict, policy: policyName, endpoint: `${candidate.host}:${candidate.port}`, target: candidate.label }));
          else {
            out(`refused: ${err.code} — ${candidate.label} at ${candidate.host}:${candidate.port} did not verify; nothing was sent to it`);
            for (const line of verdictLines(err.verdict, policyName, candidate)) out(`  ${line}`);
          }
          process.exitCode = 1;
          return;
        }
        if (!(err instanceof ReplicaUnreachable)) throw err;
        unreachable.push(`${candidate.label} (${err.message})`);
      }
    }
    if (!connection || !target) {
      if (flags.output === 'json') out(JSON.stringify({ verified: false, code: 'REPLICA_UNREACHABLE', reasons: unreachable.map((message) => ({ code: 'REPLICA_UNREACHABLE', message })) }));
      else out(`unreachable: REPLICA_UNREACHABLE — ${unreachable.join('; ')}`);
      process.exitCode = 1;
      return;
    }
    try {
      if (flags.output === 'text') {
        for (const line of verdictLines(connection.verdict, policyName, target)) out(line);
        out('');
      }
      let answer: ChatAnswer;
      try {
        answer = await chatCompletion(
          connection,
          {
            model,
            prompt,
            ...(flags.maxTokens !== undefined ? { maxTokens: flags.maxTokens } : {}),
            ...(flags.temperature !== undefined ? { temperature: flags.temperature } : {}),
            ...(flags.seed !== undefined ? { seed: flags.seed } : {}),
            ...(flags.stream ? { stream: true } : {}),
          },
          flags.stream && flags.output === 'text' ? (piece) => process.stdout.write(piece) : undefined,
        );
      } catch (err) {
        if (!(err instanceof ChatFailed || err instanceof ReplicaUnreachable)) throw err;
        if (flags.output === 'json') out(JSON.stringify({ verified: true, verdict: connection.verdict, policy: policyName, code: err.code, error: err.message }));
        else out(`error: ${err.code}: ${err.message}`);
        process.exitCode = 1;
        return;
      }
      if (flags.output === 'json') {
        out(JSON.stringify({ verified: true, verdict: connection.verdict, policy: policyName, endpoint: `${target.host}:${target.port}`, target: target.label, model, answer }));
      } else {
        if (!flags.stream) process.stdout.write(answer.content);
        out('');
        if (answer.usage) out(`\n(${answer.usage.promptTokens} prompt + ${answer.usage.completionTokens} completion tokens${answer.finishReason ? `, ${answer.finishReason}` : ''})`);
      }
    } finally {
      connection.close();
    }
  } finally {
    cluster?.close();
  }
}

export function registerChatCommand(program: Command): void {
  program
    .command('chat')
    .summary('verify a replica of a pool over RA-TLS, then send it a prompt')
    .description(
      'Send one OpenAI-compatible chat completion to a replica of <pool>, after verifying the replica itself: the evidence in its\n' +
        'RA-TLS certificate and a fresh answer to a nonce of ours must pass the AttestationPolicy, and the TLS key must be the key\n' +
        'the evidence binds. A replica that does not verify gets nothing.\n' +
        'Exit 0: verified and answered; 1: refused (the reason code is printed), unreachable, or an error answer; 2: unusable input.',
    )
    .argument('<pool>', 'InferencePool name (namespace: -n)')
    .argument('<prompt>', 'the user message')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('--max-tokens <n>', 'max_tokens of the completion', positiveInt('--max-tokens'))
    .option('--temperature <t>', 'sampling temperature, 0 to 2 (default: the replica\'s)', temperature)
    .option('--seed <n>', 'sampling seed: the same seed, prompt and model give the same answer', seed)
    .option('--stream', 'stream the answer (Server-Sent Events) as it is generated')
    .option('--endpoint <host:port>', "a replica's RA-TLS address, bypassing discovery")
    .option('--policy <name>', "AttestationPolicy to verify against (default: the replicas' hosts' policy)")
    .option('--policy-file <file>', 'AttestationPolicy YAML (the resource or its spec) instead of one from the cluster')
    .option('--model <name>', "model name to request (default: the pool's spec.model.name)")
    .option('--collateral <dir>', 'TDX replicas: Intel PCS TCB info and QE identity JSON, TCB signing chain PEM, CRLs (DER); without it a TDX replica fails COLLATERAL_MISSING under a policy that requires collateral')
    .option('--timeout <seconds>', 'limit for the TLS handshake and for the evidence answer, each', positiveInt('--timeout'), 30)
    .action(async (pool: string, prompt: string, flags: ChatFlags, command: Command) => {
      await runChat(pool, prompt, flags, command);
    });
}
