// An in-memory Lease endpoint with resourceVersion-conditioned writes, for unit tests of the leader
// elector's timing logic (the real-apiserver tests are in leader-election.test.ts).
import { KubeApiError, type RestClient } from '../../operator/src/kube/rest.js';

export class FakeLeaseApi {
  lease: Record<string, any> | undefined;
  private rv = 0;
  /** Every stored write: whose record it is and when it was stored (performance.now(), as the electors' clocks). */
  writes: Array<{ holder: string | undefined; at: number }> = [];
  failAll = false;
  /** Every request's method, in order. */
  methods: string[] = [];

  /** A client of this API; set `link.down` to cut this one client off (the others still reach it). */
  asClient(link: { down: boolean } = { down: false }): RestClient {
    return { request: (method: string, path: string, options?: { body?: unknown }) => this.request(method, path, options?.body, link) } as unknown as RestClient;
  }

  async request(method: string, path: string, body: any, link: { down: boolean }): Promise<unknown> {
    await new Promise((r) => setImmediate(r));
    this.methods.push(method);
    if (this.failAll || link.down) throw new Error('connect ECONNREFUSED');
    if (method === 'GET') {
      if (!this.lease) throw new KubeApiError(404, 'NotFound', 'not found', method, path);
      return structuredClone(this.lease);
    }
    if (method === 'POST') {
      if (this.lease) throw new KubeApiError(409, 'AlreadyExists', 'exists', method, path);
      return this.store(body);
    }
    if (method === 'PUT') {
      if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion) throw new KubeApiError(409, 'Conflict', 'rv', method, path);
      return this.store(body);
    }
    throw new Error(`unexpected ${method}`);
  }

  private store(body: any): unknown {
    this.lease = { ...structuredClone(body), metadata: { ...body.metadata, resourceVersion: String(++this.rv) } };
    this.writes.push({ holder: body.spec?.holderIdentity, at: performance.now() });
    return structuredClone(this.lease);
  }
}
