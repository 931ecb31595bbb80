// One read-modify-write of a host's ProviderNode status at a time, per host, within this process.
//
// Why: the service's writes to a ProviderNode's status (a replica's challenge, a replica's verdict and
// key, the node's own verdict) are JSON merge patches conditioned on the resourceVersion they were
// decided on, so two of them racing on one host make one fail with 409 and start over. A host with four
// replicas and its own re-attestation raced itself constantly: in the chaos bench at 200 nodes the
// service's status patches answered 409 more often than 200 (972 against 777), each loser retried up
// to five times and then sent the attester back to a fresh challenge, and replicas were attested at
// 0.4 a second. Taking turns per host removes the races between the service's own requests; a write
// by the controllers can still make one attempt stale, and the callers' retries handle that.
//
// Nothing is dropped or reordered across hosts: each host's sections run in the order they asked, a
// section that fails does not stop the next, and a host with nothing queued holds no memory.
export class HostWrites {
  private readonly tails = new Map<string, Promise<unknown>>();

  /**
   * Runs `section` once every section queued before it for `host` has settled; resolves or rejects as it
   * does. `waited` tells the section whether another ran first: what it read before its turn is then
   * likely stale, and reading the host again costs less than a patch the apiserver refuses.
   */
  run<T>(host: string, section: (waited: boolean) => Promise<T>): Promise<T> {
    const before = this.tails.get(host);
    const start = () => section(before !== undefined);
    const mine = before ? before.then(start, start) : start();
    // The queue's tail never rejects, so a failed section is seen by its own caller only.
    const tail = mine.then(() => undefined, () => undefined);
    this.tails.set(host, tail);
    void tail.then(() => {
      if (this.tails.get(host) === tail) this.tails.delete(host);
    });
    return mine;
  }

  /** Hosts with a section running or queued (for tests and metrics). */
  get busyHosts(): number {
    return this.tails.size;
  }
}
