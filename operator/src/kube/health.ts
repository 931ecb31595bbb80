// The operator's HTTP endpoints: /healthz (the process is alive and its event loop answers),
// /readyz (caches synced and, when leading, controllers running; a standby is ready once synced so a
// rollout can proceed) and /metrics (Prometheus text format).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OperatorMetrics } from './metrics.js';

export interface Readiness {
  ready: boolean;
  /** Why not ready, shown in the /readyz body. */
  reason?: string;
}

export interface HealthServerOptions {
  /** 0 picks a free port (tests). */
  port: number;
  host?: string;
  metrics: OperatorMetrics;
  readiness: () => Readiness;
  /** Liveness (default: always alive while the process answers). */
  liveness?: () => boolean;
}

export class HealthServer {
  private server: http.Server | undefined;

  constructor(private readonly options: HealthServerOptions) {}

  get port(): number {
    const addr = this.server?.address() as AddressInfo | null | undefined;
    if (!addr) throw new Error('health server not listening');
    return addr.port;
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      void this.handle(req.url ?? '/', res);
    });
    await new Promise<void>((r, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.options.port, this.options.host ?? '0.0.0.0', () => r());
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }

  private async handle(url: string, res: http.ServerResponse): Promise<void> {
    const path = url.split('?')[0];
    try {
      if (path === '/healthz') {
        const alive = this.options.liveness?.() ?? true;
        res.writeHead(alive ? 200 : 500, { 'content-type': 'text/plain' }).end(alive ? 'ok\n' : 'not alive\n');
      } else if (path === '/readyz') {
        const r = this.options.readiness();
        res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(r.ready ? 'ok\n' : `not ready: ${r.reason ?? 'unknown'}\n`);
      } else if (path === '/metrics') {
        const body = await this.options.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': this.options.metrics.registry.contentType }).end(body);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`);
    }
  }
}
