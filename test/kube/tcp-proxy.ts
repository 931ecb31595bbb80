// A TCP pass-through in front of the real apiserver (TLS goes end to end; nothing is interpreted or
// faked). Tests use it to cut an informer off at a chosen moment — so changes made meanwhile are
// certainly made while its watch is down — and to freeze a connection without closing it, which is
// what a half-open TCP connection looks like to the client.
import net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export class TcpProxy {
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  /** Frozen connections: no longer forwarded, but still open until close(). */
  private readonly frozen = new Set<[net.Socket, net.Socket]>();
  private holding = false;

  private constructor(private readonly server: net.Server, private readonly targetPort: number) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = net.createServer((client) => proxy!.accept(client));
    proxy = new TcpProxy(server, targetPort);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** A copy of `kc` whose server is this proxy. */
  kubeConfig(kc: KubeConfig): KubeConfig {
    const config = JSON.parse(kc.exportConfig()) as { clusters: Array<{ cluster: { server: string } }> };
    for (const c of config.clusters) c.cluster.server = `https://127.0.0.1:${this.port}`;
    const out = new KubeConfig();
    out.loadFromString(JSON.stringify(config));
    return out;
  }

  /** Closes every connection and refuses new ones until release(). */
  hold(): void {
    this.holding = true;
    this.cutAll();
  }

  release(): void {
    this.holding = false;
  }

  cutAll(): void {
    for (const [a, b] of this.pairs) { a.destroy(); b.destroy(); }
    this.pairs.clear();
  }

  /** Existing connections stay open but carry nothing more (a half-open connection); new ones work. */
  freeze(): void {
    for (const pair of this.pairs) {
      const [a, b] = pair;
      a.unpipe(); b.unpipe(); a.pause(); b.pause();
      this.frozen.add(pair);
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.cutAll();
    // server.close() waits for every connection; frozen ones would otherwise keep it waiting forever.
    for (const [a, b] of this.frozen) { a.destroy(); b.destroy(); }
    this.frozen.clear();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private accept(client: net.Socket): void {
    if (this.holding) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const end = () => { client.destroy(); upstream.destroy(); this.pairs.delete(pair); };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
