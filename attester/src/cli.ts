// The `chrysalis-attester` command line: flags → evidence sources, transport, Attester and UsageReporter.
// main.ts runs it; the process is the node probe the chart's DaemonSet runs in each confidential VM, and
// the sidecar next to every replica.
//
// Exit status: 0 verified (or --print/--probe done), 1 rejected or the host's GPUs are not in CC mode,
// 2 unusable setup or usage (one line on stderr naming the flag, file or kernel feature to fix).
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Subject } from '../../operator/src/attestation/service/protocol.js';
import { componentLogger } from '../../operator/src/util/log.js';
import { Attester } from './attester.js';
import type { CpuEvidenceSource } from './cpu/source.js';
import { TsmCpuSource } from './cpu/source.js';
import { DEFAULT_TSM_ROOT } from './cpu/tsm.js';
import { AttesterError, asAttesterError, exitCodeFor } from './errors.js';
import { NoGpuSource, NvmlGpuSource, type GpuEvidenceSource } from './gpu/source.js';
import { parseNonce } from './identity.js';
import { DEFAULT_TOKEN_FILE, HttpsTransport, tokenFromFile, type Transport } from './transport.js';
import { DEFAULT_TERMINATION_LOG, modelCheckCommand } from './model/model-check.js';
import { HealthEndpoint } from './gateway/health-endpoint.js';
import { RaTlsGateway } from './gateway/gateway.js';
import { OpenAIUsageMeter } from './usage/openai-usage.js';
import { DEFAULT_IDLE_REPORT_MS, reattestationMayHelp, UsageReporter } from './usage/reporter.js';
import { TokenCounter } from './usage/token-counter.js';

interface Flags {
  mode: 'node' | 'replica' | 'model-check';
  modelSource?: string;
  modelDir?: string;
  modelName?: string;
  modelRevision: string;
  expectedHash?: string;
  terminationLog: string;
  service?: string;
  ca?: string;
  tokenFile: string;
  tee: 'tsm' | 'simulated';
  tsmRoot: string;
  privlevel?: number;
  gpu: 'nvml' | 'simulated' | 'none';
  nvmlLib?: string;
  simulatedRootOut?: string;
  simulatedState?: string;
  simulatedGpus: number;
  nodeName?: string;
  namespace?: string;
  pod?: string;
  once?: boolean;
  print?: boolean;
  probe?: boolean;
  nonce?: string;
  reattestInterval: number;
  challengePoll?: number;
  usageInterval: number;
  idleReportInterval: number;
  gpus: number;
  httpsPort?: number;
  upstreamPort?: number;
  healthPort?: number;
  raTlsValidity: number;
}

function wholeNumber(flag: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min) throw new InvalidArgumentError(`${flag} must be a whole number ≥ ${min}`);
    return n;
  };
}

function subjectFrom(flags: Flags, env: NodeJS.ProcessEnv): Subject {
  if (flags.mode === 'node') {
    const nodeName = flags.nodeName ?? env.NODE_NAME;
    if (!nodeName) throw new AttesterError('CONFIG_INVALID', 'NODE_NAME is not set: pass spec.nodeName through the downward API or use --node-name');
    return { kind: 'node', nodeName };
  }
  const namespace = flags.namespace ?? env.POD_NAMESPACE;
  const pod = flags.pod ?? env.POD_NAME;
  if (!namespace || !pod) {
    throw new AttesterError('CONFIG_INVALID', 'POD_NAMESPACE and POD_NAME must be set in replica mode: pass metadata.namespace and metadata.name through the downward API or use --namespace/--pod');
  }
  return { kind: 'replica', namespace, pod };
}

async function sourcesFrom(flags: Flags): Promise<{ cpu: CpuEvidenceSource; gpu: GpuEvidenceSource }> {
  // The simulated TEE (and its certificate library) is loaded only when asked for: production never runs it.
  const simulated =
    flags.tee === 'simulated' || flags.gpu === 'simulated'
      ? await (await import('./simulated.js')).createSimulatedSources(flags.simulatedGpus, flags.simulatedRootOut, flags.simulatedState)
      : undefined;
  const cpu = flags.tee === 'simulated' ? simulated!.cpu : new TsmCpuSource({ root: flags.tsmRoot, ...(flags.privlevel !== undefined ? { privlevel: flags.privlevel } : {}) });
  const gpu =
    flags.gpu === 'simulated' ? simulated!.gpu : flags.gpu === 'none' ? new NoGpuSource() : new NvmlGpuSource(flags.nvmlLib ? { libraryPath: flags.nvmlLib } : {});
  return { cpu, gpu };
}

async function transportFrom(flags: Flags): Promise<Transport> {
  if (!flags.service) throw new AttesterError('CONFIG_INVALID', '--service is required: give the attestation service URL (https://...)');
  let ca: Buffer | undefined;
  if (flags.ca) {
    try {
      ca = await readFile(flags.ca);
    } catch (err) {
      throw new AttesterError('CONFIG_INVALID', `--ca ${flags.ca} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the PEM file of the service's CA`);
    }
  }
  return new HttpsTransport({ serviceUrl: flags.service, ...(ca ? { ca } : {}), token: tokenFromFile(flags.tokenFile) });
}

/** A transport for --print: building evidence must never reach the network. */
const offlineTransport: Transport = {
  challenge: () => Promise.reject(new Error('offline')),
  evidence: () => Promise.reject(new Error('offline')),
  usage: () => Promise.reject(new Error('offline')),
};

async function execute(flags: Flags, out: (line: string) => void): Promise<number> {
  if (flags.mode === 'model-check') {
    // The replica's init container: no evidence, no service; the model's files and spec.model only.
    if (!flags.modelDir) throw new AttesterError('CONFIG_INVALID', '--model-dir is required with --mode model-check: the directory the model is in (or is unpacked into)');
    if (!flags.modelName) throw new AttesterError('CONFIG_INVALID', '--model-name is required with --mode model-check: spec.model.name, the name in name@commit:root');
    return modelCheckCommand({
      dir: flags.modelDir,
      name: flags.modelName,
      revision: flags.modelRevision,
      terminationLog: flags.terminationLog,
      ...(flags.modelSource !== undefined ? { source: flags.modelSource } : {}),
      ...(flags.expectedHash !== undefined ? { expectedHash: flags.expectedHash } : {}),
    }, out);
  }
  if (flags.probe) {
    if (flags.gpu !== 'nvml') throw new AttesterError('CONFIG_INVALID', '--probe reads NVML: use it with --gpu nvml (the default)');
    out(JSON.stringify(new NvmlGpuSource(flags.nvmlLib ? { libraryPath: flags.nvmlLib } : {}).probe(), null, 2));
    return 0;
  }
  if (flags.print && !flags.nonce) throw new AttesterError('CONFIG_INVALID', '--print needs --nonce HEX (the 32-byte challenge to answer)');
  if (flags.nonce && !flags.print) throw new AttesterError('CONFIG_INVALID', '--nonce is only used with --print; otherwise the service supplies the challenge');
  if (flags.httpsPort !== undefined && flags.mode !== 'replica') throw new AttesterError('CONFIG_INVALID', '--https-port is for replica mode (--mode replica): only a replica serves RA-TLS');
  if ((flags.httpsPort === undefined) !== (flags.upstreamPort === undefined)) {
    throw new AttesterError('CONFIG_INVALID', '--https-port and --upstream-port go together: the RA-TLS port to serve and the inference server port on 127.0.0.1 to forward to');
  }
  if (flags.healthPort !== undefined && flags.httpsPort === undefined) {
    throw new AttesterError('CONFIG_INVALID', '--health-port goes with --https-port and --upstream-port: it answers for the inference server the gateway forwards to');
  }
  const subject = subjectFrom(flags, process.env);
  const { cpu, gpu } = await sourcesFrom(flags);
  const log = componentLogger('attester', { subject });

  if (flags.print) {
    parseNonce(flags.nonce!, '--nonce');
    const attester = new Attester({ subject, cpu, gpu, transport: offlineTransport, logger: log });
    // The key made for this run dies with it: the printed request shows what would be sent, it cannot be replayed.
    out(JSON.stringify(await attester.buildEvidence(flags.nonce!), null, 2));
    return 0;
  }

  // Local problems (no TSM, no NVML, CC off, unreadable CA) are reported before the service is contacted.
  await gpu.preflight?.();
  await cpu.preflight?.();
  const transport = await transportFrom(flags);
  // Nodes poll for an early challenge (a read of ProviderNode status); replicas would write a Pod
  // annotation per poll, so they re-attest on renewal, on a refused usage report or on SIGHUP instead.
  const pollSeconds = flags.challengePoll ?? (subject.kind === 'node' ? 30 : 0);
  const attester = new Attester({
    subject,
    cpu,
    gpu,
    transport,
    logger: log,
    reattestIntervalMs: flags.reattestInterval * 1000,
    ...(pollSeconds > 0 ? { challengePollMs: pollSeconds * 1000 } : {}),
  });

  if (flags.once) {
    const outcome = await attester.attestOnce();
    if (outcome.verified) {
      out(`verified: ${subject.kind === 'node' ? `node ${subject.nodeName}` : `replica ${subject.namespace}/${subject.pod}`}${outcome.expiresAt ? ` until ${outcome.expiresAt.toISOString()}` : ''} (key ${attester.identity.publicKeyHex})`);
      return 0;
    }
    out(`rejected: ${outcome.reasons.length} reason(s)`);
    for (const r of outcome.reasons) out(`  ${r.code}: ${r.message}`);
    return 1;
  }

  // Daemon: attest and keep it fresh; replicas also report usage while attested.
  const stop = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
  process.on('SIGHUP', () => attester.requestReattest());
  const tasks = [attester.run(stop.signal)];
  if (subject.kind === 'replica') {
    // The replica's tokens are counted where the client's TLS ends, in this process (usage/openai-usage.ts
    // feeds this counter from the responses the gateway forwards); the server's own /metrics are not read.
    const tokens = new TokenCounter();
    const reporter = new UsageReporter({
      identity: attester.identity,
      namespace: subject.namespace,
      pod: subject.pod,
      transport,
      tokens,
      gpus: flags.gpus,
      intervalMs: flags.usageInterval * 1000,
      idleReportMs: flags.idleReportInterval * 1000,
      isAttested: () => attester.attested,
      onRefused: (response) => { if (reattestationMayHelp(response)) attester.requestReattest(); },
      logger: log,
    });
    // Stopping: the gateway closes first (no more tokens are counted), then one last report carries what
    // was counted since the last answered one.
    let gatewayClosed: Promise<void> = Promise.resolve();
    tasks.push(reporter.run(stop.signal).then(async () => {
      await gatewayClosed;
      await reporter.finalReport();
    }));
    if (flags.httpsPort !== undefined) {
      // The RA-TLS endpoint (gateway/): clients verify this key's evidence themselves, and every token it
      // forwards is counted into `tokens` by the meter.
      const gateway = new RaTlsGateway({
        identity: attester.identity,
        makeEvidence: async (nonce) => {
          const { subject: _subject, ...bundle } = await attester.buildEvidence(Buffer.from(nonce).toString('hex'));
          return bundle;
        },
        upstreamPort: flags.upstreamPort!,
        usage: new OpenAIUsageMeter(tokens, log),
        validityMs: flags.raTlsValidity * 1000,
        logger: log,
      });
      await gateway.listen(flags.httpsPort);
      stop.signal.addEventListener('abort', () => { gatewayClosed = gateway.close(); }, { once: true });
      if (flags.healthPort !== undefined) {
        // Started once the gateway serves: Ready means both the gateway and the server behind it answer.
        const health = new HealthEndpoint({ upstreamPort: flags.upstreamPort! });
        await health.listen(flags.healthPort);
        stop.signal.addEventListener('abort', () => void health.close(), { once: true });
      }
    }
  }
  try {
    await Promise.all(tasks);
  } finally {
    stop.abort();
  }
  return 0;
}

export function buildProgram(out: (line: string) => void, setExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('chrysalis-attester')
    .version('0.1.0')
    .description('Answers the Chrysalis attestation service with TEE (SEV-SNP/TDX via configfs TSM) and NVIDIA GPU evidence')
    .addOption(new Option('--mode <mode>', 'what is attested: the GPU host, or one replica pod; model-check: verify a model\'s files against spec.model.hash').choices(['node', 'replica', 'model-check']).default('node'))
    .option('--service <url>', 'attestation service base URL (https)', process.env.CHRYSALIS_ATTESTATION_URL)
    .option('--ca <file>', "PEM CA bundle for the service's certificate")
    .option('--token-file <file>', 'projected ServiceAccount token (audience chrysalis-attestation)', DEFAULT_TOKEN_FILE)
    .addOption(new Option('--tee <source>', 'CPU evidence: configfs TSM, or the simulated TEE').choices(['tsm', 'simulated']).default('tsm'))
    .option('--tsm-root <dir>', 'configfs TSM report directory', DEFAULT_TSM_ROOT)
    .option('--privlevel <n>', 'SEV-SNP: VMPL to request the report at', wholeNumber('--privlevel', 0))
    .addOption(new Option('--gpu <source>', 'GPU evidence: NVML, the simulated GPU, or none').choices(['nvml', 'simulated', 'none']).default('nvml'))
    .option('--nvml-lib <path>', 'path of libnvidia-ml.so (default: the loader search path)')
    .option('--simulated-root-out <file>', 'with the simulated TEE: write its root certificate (PEM, public) here for the policy')
    .option('--simulated-state <file>', 'with the simulated TEE: issue under this root (JSON {certificate, privateKey}, the chart\'s attester.simulated.stateSecret) instead of a fresh one')
    .option('--simulated-gpus <n>', 'number of simulated GPUs', wholeNumber('--simulated-gpus', 0), 1)
    .option('--node-name <name>', 'node mode: the Node (default $NODE_NAME)')
    .option('--namespace <ns>', 'replica mode: pod namespace (default $POD_NAMESPACE)')
    .option('--pod <name>', 'replica mode: pod name (default $POD_NAME)')
    .option('--once', 'attest once and exit: 0 verified, 1 rejected, 2 unusable setup')
    .option('--print', 'print the EvidenceRequest for --nonce without sending it')
    .option('--nonce <hex>', 'with --print: the 32-byte challenge nonce to answer')
    .option('--probe', 'print the GPUs\' confidential-computing state from NVML and exit')
    .option('--reattest-interval <seconds>', 'renew at least this often', wholeNumber('--reattest-interval', 1), 3600)
    .option('--challenge-poll <seconds>', 'while attested, look for an early re-attestation challenge this often (0 = off; default 30 for nodes, 0 for replicas)', wholeNumber('--challenge-poll', 0))
    .option('--usage-interval <seconds>', 'replica mode: seconds between usage reports', wholeNumber('--usage-interval', 1), 60)
    .option('--idle-report-interval <seconds>', 'replica mode: while no token was served since the last accepted report, report only once it is this old (0 = every --usage-interval)', wholeNumber('--idle-report-interval', 0), DEFAULT_IDLE_REPORT_MS / 1000)
    .option('--gpus <n>', 'GPUs assigned to this replica (for GPU-seconds)', wholeNumber('--gpus', 0), 1)
    .option('--https-port <port>', "replica mode: serve RA-TLS here (TLS 1.3, certificate key = the attested key, evidence inside) and forward to the inference server", wholeNumber('--https-port', 1))
    .option('--upstream-port <port>', "replica mode, with --https-port: the inference server's port on 127.0.0.1", wholeNumber('--upstream-port', 1))
    .option('--health-port <port>', "replica mode, with --https-port: answer kubelet's readiness probe here in plain HTTP (GET /health: 200 when the inference server's /health is)", wholeNumber('--health-port', 1))
    .option('--ra-tls-validity <seconds>', 'replica mode: lifetime of each RA-TLS certificate (a new one every half of it)', wholeNumber('--ra-tls-validity', 120), 600)
    .option('--model-source <uri>', 'model-check: spec.model.source; an http(s) archive is fetched into --model-dir, pvc:// (or none) is checked in place')
    .option('--model-dir <dir>', 'model-check: the directory the model is in, or is unpacked into')
    .option('--model-name <name>', 'model-check: spec.model.name')
    .option('--model-revision <commit>', 'model-check: spec.model.revision (the commit in name@commit:root)', '')
    .option('--expected-hash <hex>', 'model-check: spec.model.hash; without it the computed hash is printed and nothing is compared')
    .option('--termination-log <file>', 'model-check: where the one-line report is written for the Pod status', DEFAULT_TERMINATION_LOG)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .action(async (flags: Flags) => {
      try {
        setExit(await execute(flags, out));
      } catch (err) {
        const e = asAttesterError(err, 'CONFIG_INVALID');
        process.stderr.write(`error: ${e.oneLine()}\n`);
        setExit(exitCodeFor(e));
      }
    });
  return program;
}
