// What the benches read from kube-apiserver itself, beside the API: its request counters (/metrics) and
// a CPU profile (/debug/pprof), to say what the server spent its time on during a bench's phase.
import { mkdirSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';

/**
 * PROFILE_DIR=<dir>: a CPU profile of kube-apiserver over the first PROFILE_SECONDS (default 5) of a
 * phase, written to <dir>/kube-apiserver-<label>.pprof (read it with `go tool pprof -top`), to see
 * what the server spends its time on for each side. (kwok's /debug/pprof has no CPU profile.)
 */
export async function profileApiserver(kc: KubeConfig, label: string, seconds: number): Promise<void> {
  const dir = process.env.PROFILE_DIR as string;
  mkdirSync(dir, { recursive: true });
  const body = await getFromApiserver(kc, `/debug/pprof/profile?seconds=${seconds}`);
  const file = join(dir, `kube-apiserver-${label}.pprof`);
  writeFileSync(file, body);
  console.log(`  ${label}: kube-apiserver CPU profile (${seconds} s) in ${file}`);
}

/**
 * GETs a non-API path of kube-apiserver (/metrics, /debug/pprof/…) with the kubeconfig's credentials
 * and returns the body as it came: neither is JSON, so the RestClient does not fit. A non-200 answer
 * is an error naming the path, never a body mistaken for the answer.
 */
async function getFromApiserver(kc: KubeConfig, path: string): Promise<Buffer> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  return new Promise<Buffer>((resolveBody, rejectBody) => {
    const req = https.request(new URL(path, kc.getCurrentCluster()?.server), { ...opts, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        if (res.statusCode === 200) resolveBody(body);
        else rejectBody(new Error(`GET ${path}: ${res.statusCode} ${body.toString('utf8').slice(0, 200)}`));
      });
    });
    req.on('error', rejectBody);
    req.end();
  });
}

/** apiserver_request_total by verb/resource/subresource, summed over codes and clients. */
export async function apiserverRequests(kc: KubeConfig): Promise<Map<string, number>> {
  const text = (await getFromApiserver(kc, '/metrics')).toString('utf8');
  const out = new Map<string, number>();
  for (const line of String(text).split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries([...line.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    const key = `${labels.verb} ${labels.resource}${labels.subresource ? '/' + labels.subresource : ''}`;
    out.set(key, (out.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}
