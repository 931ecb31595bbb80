// The replica's readiness, in plain HTTP for kubelet (replica mode, --health-port): GET /health answers
// 200 when the inference server on loopback answers its own /health with 200, 503 otherwise; every other
// path or method is 404 and nothing is forwarded. It carries no tokens and no evidence.
//
// Why not the RA-TLS port: kubelet's HTTPS probe is Go's TLS client, and Go's x509 parser refuses the
// whole RA-TLS certificate ("malformed extension OID field": the evidence extension's OID has a UUID arc,
// a component far above the 2^31 Go accepts), so the probe through the gateway never passed and no
// replica on a real node became Ready. The server itself listens on 127.0.0.1 only, where kubelet cannot
// reach, so the sidecar answers for it.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const HEALTH_PATH = '/health';
/** How long the server's own /health may take before the answer is 503. */
export const UPSTREAM_HEALTH_TIMEOUT_MS = 2_000;

export interface HealthEndpointOptions {
  upstreamPort: number;
  /** Default 127.0.0.1. */
  upstreamHost?: string;
}

/** Whether the inference server answers its /health with 200 now. */
export function upstreamHealthy(options: HealthEndpointOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: options.upstreamHost ?? '127.0.0.1', port: options.upstreamPort, path: HEALTH_PATH, method: 'GET', timeout: UPSTREAM_HEALTH_TIMEOUT_MS }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

export class HealthEndpoint {
  #server: Server | undefined;

  constructor(private readonly options: HealthEndpointOptions) {
    if (!Number.isInteger(options.upstreamPort) || options.upstreamPort < 1 || options.upstreamPort > 65535) {
      throw new Error(`the inference server port must be 1..65535, got ${options.upstreamPort}`);
    }
  }

  /** Without `host`, every address of the Pod (kubelet probes the Pod IP). */
  async listen(port: number, host?: string): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== HEALTH_PATH) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: this port answers GET /health only\n');
        return;
      }
      void upstreamHealthy(this.options).then((healthy) => {
        res.writeHead(healthy ? 200 : 503, { 'content-type': 'text/plain' }).end(healthy ? 'ok\n' : 'the inference server is not healthy yet\n');
      });
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const listening = () => {
        server.off('error', reject);
        resolve();
      };
      if (host === undefined) server.listen(port, listening);
      else server.listen(port, host, listening);
    });
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
