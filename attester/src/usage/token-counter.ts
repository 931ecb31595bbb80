// The replica's cumulative token counters: what the RA-TLS terminator forwarded to clients, counted from
// the OpenAI-compatible responses (openai-usage.ts) and read by the usage reporter (reporter.ts), which
// signs them with the attested key.
//
// The totals start at zero when the attester process starts and only grow: they belong to this process's
// bootId, so a restarted sidecar starts again from zero under a new bootId and nothing is counted twice.
// bigint: a long-lived replica can pass 2^53 tokens; the protocol carries decimal strings.

export interface TokenTotals {
  promptTokens: bigint;
  completionTokens: bigint;
  /** Of promptTokens, those the server read from its prefix cache. */
  cachedPromptTokens: bigint;
  /** Responses whose usage was counted. */
  countedResponses: bigint;
  /** Responses to a metered endpoint that carried no readable usage: nothing was counted for them. */
  uncountedResponses: bigint;
}

export class TokenCounter {
  #prompt = 0n;
  #completion = 0n;
  #cached = 0n;
  #counted = 0n;
  #uncounted = 0n;

  /**
   * Adds one response's usage. Throws on a negative or fractional count, or more cached prompt tokens than
   * prompt tokens: such a usage is never counted.
   */
  add(promptTokens: number, completionTokens: number, cachedPromptTokens = 0): void {
    for (const [name, v] of [['promptTokens', promptTokens], ['completionTokens', completionTokens], ['cachedPromptTokens', cachedPromptTokens]] as const) {
      if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be a whole number ≥ 0, got ${v}`);
    }
    if (cachedPromptTokens > promptTokens) throw new RangeError(`cachedPromptTokens ${cachedPromptTokens} exceeds promptTokens ${promptTokens}`);
    this.#prompt += BigInt(promptTokens);
    this.#completion += BigInt(completionTokens);
    this.#cached += BigInt(cachedPromptTokens);
    this.#counted++;
  }

  /** Records a response that was forwarded without a usage the meter could read. */
  addUncounted(): void {
    this.#uncounted++;
  }

  snapshot(): TokenTotals {
    return { promptTokens: this.#prompt, completionTokens: this.#completion, cachedPromptTokens: this.#cached, countedResponses: this.#counted, uncountedResponses: this.#uncounted };
  }
}
