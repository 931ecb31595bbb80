// How many requests one REST client has open at once (rest.ts), and who goes next when one closes.
//
// Why a bound besides the rate limit: a rate bounds how many requests start a second, not how many are
// open, and the number open is the rate times the apiserver's latency. When kube-apiserver slows down
// (the chaos bench at 8,000 replicas: answers in seconds), a client at its rate opens more and more at
// once — the attestation service held 1,376 connections — and each is work the apiserver takes on now,
// for an answer that comes no sooner: some hundreds ended in the client's timeout, a reset or a TLS
// handshake cut short, their work done for nothing and asked again. With a bound, requests past it wait
// here, in the order they were made, and the apiserver works on fewer at once, each answered sooner.
//
// A waiting request holds nothing: its timeout starts when it is sent, and an abort (its signal) takes
// it out of the line without sending it.
export class RequestSlots {
  private open = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`maxInFlight must be a positive integer, got ${max}`);
  }

  /** Resolves, in the order asked, once fewer than `max` are open; call the returned function when done. */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) throw abortedWhileWaiting(signal);
    if (this.open < this.max && this.waiting.length === 0) {
      this.open++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const turn = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        const at = this.waiting.indexOf(turn);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(abortedWhileWaiting(signal!));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(turn);
    });
    // The slot was handed over by the one released (open stays as it was).
    return this.releaser();
  }

  /** Whether a request asking now would wait. */
  get full(): boolean {
    return this.open >= this.max || this.waiting.length > 0;
  }

  /** Requests open now and waiting for a slot (for metrics and tests). */
  get counts(): { open: number; waiting: number } {
    return { open: this.open, waiting: this.waiting.length };
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.open--;
    };
  }
}

/** What a request aborted before it was sent rejects with: an Error named AbortError, as Node's own aborts. */
function abortedWhileWaiting(signal: AbortSignal): Error {
  const err = new Error('the request was aborted before it was sent (it waited for one of the client\'s requests open at once)', { cause: signal.reason });
  err.name = 'AbortError';
  return err;
}
