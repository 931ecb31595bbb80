// What the RA-TLS proxy asks of metering, and nothing more: the proxy terminates the client's TLS inside
// the replica's attested boundary, so it is where tokens can be counted from what the model really sent.
// The counting itself lives in attester/src/usage/ (OpenAI-compatible responses, streaming included);
// the proxy only hands it each request body and every response byte, in order, unchanged.
//
// The interface was agreed with metering: prepareRequest may rewrite a request before it reaches the
// server (e.g. set stream_options.include_usage so a streamed answer reports its usage), and a tap
// accumulates into metering's own counters.

/** Sees one response's bytes as they pass; end() once, when the response is over or was cut off. */
export interface UsageTap {
  write(chunk: Buffer): void;
  end(): void;
}

export interface UsageHooks {
  /** The body to forward for `path` (the request target, query included); may return `body` itself. */
  prepareRequest(path: string, body: Buffer): Buffer;
  /** A tap for the response to `path`; `requestBody` is the body as forwarded (after prepareRequest). */
  createUsageTap(path: string, requestBody: Buffer): UsageTap;
}
