// The model behind the HTTP server: llama.cpp through node-llama-cpp's prebuilt CPU binaries (no build
// at start, no GPU probing), one context with one sequence. Requests take turns (a queue): a sequence
// holds one conversation's state at a time, and a replica of this engine serves one stream after another.
import { getLlama, LlamaLogLevel, resolveChatWrapper, type ChatHistoryItem, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { randomInt } from 'node:crypto';
import { checkGgufHeader } from './gguf-header.js';
import { IncrementalText } from './incremental-text.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface SamplingOptions {
  maxTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP?: number;
  /**
   * A 32-bit value, signed or not (-2 and 4294967294 are the same seed); absent: a fresh random one. As in
   * llama.cpp's own server, -1 (4294967295, llama.cpp's "default seed") asks for a random one too.
   */
  seed?: number;
}

/**
 * The seed handed to llama.cpp's sampler. node-llama-cpp, given none, seeds with the current second, so
 * every unseeded request within one second would sample alike (and a test's answer would depend on the
 * second it ran in); it also clamps negative seeds to 0. So: a fresh random seed when none is asked for,
 * and a signed seed read as the unsigned 32-bit value with the same bits.
 */
export function samplerSeed(seed: number | undefined): number {
  return seed === undefined ? randomInt(0, 2 ** 32) : seed >>> 0;
}

export interface GeneratedToken {
  token: Token;
  /** The text this token adds (possibly empty while a multi-byte character is unfinished). */
  text: string;
}

export type FinishReason = 'stop' | 'length';

export class ModelRunner {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
    private readonly context: LlamaContext,
    private readonly sequence: LlamaContextSequence,
  ) {}

  static async load(modelPath: string, options: { contextSize?: number; threads?: number } = {}): Promise<ModelRunner> {
    const { contextSize = 0, threads = 1 } = options;
    await checkGgufHeader(modelPath);
    // build: 'never' — a missing prebuilt binary is an error here, not a compile from source at start.
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
    try {
      const model = await llama.loadModel({ modelPath });
      const trained = model.trainContextSize;
      const context = await model.createContext({
        contextSize: contextSize > 0 ? contextSize : Math.min(trained, 4096),
        sequences: 1,
        ...(threads > 0 ? { threads } : {}),
      });
      return new ModelRunner(llama, model, context, context.getSequence());
    } catch (err) {
      await llama.dispose();
      throw err;
    }
  }

  /** Tokens a prompt and its completion may use together. */
  get contextSize(): number {
    return this.context.contextSize;
  }

  /** A raw completion prompt as the model sees it: BOS (when the model wants one) and the text. */
  completionPromptTokens(prompt: string): Token[] {
    const bos = this.model.tokens.bos;
    const text = this.model.tokenize(prompt);
    return bos != null && this.model.tokens.shouldPrependBosToken ? [bos, ...text] : text;
  }

  /**
   * Chat messages rendered by the model's chat template (node-llama-cpp's resolution: the GGUF's own
   * template, else a known wrapper for the model, else a general one), ending where the assistant's
   * answer starts.
   */
  chatPromptTokens(messages: readonly ChatMessage[]): Token[] {
    const wrapper = resolveChatWrapper(this.model);
    const chatHistory: ChatHistoryItem[] = messages.map((m) =>
      m.role === 'system' ? { type: 'system', text: m.content } : m.role === 'user' ? { type: 'user', text: m.content } : { type: 'model', response: [m.content] },
    );
    chatHistory.push({ type: 'model', response: [] });
    const { contextText } = wrapper.generateContextState({ chatHistory });
    return contextText.tokenize(this.model.tokenizer);
  }

  /**
   * Generates after `promptTokens`, one token at a time, until an end-of-generation token (not
   * yielded, not counted) or `maxTokens`. Runs after every earlier generation has finished; breaking
   * out of the loop (a client gone) stops it. Returns why it stopped.
   */
  async *generate(promptTokens: Token[], options: SamplingOptions): AsyncGenerator<GeneratedToken, FinishReason, void> {
    let release!: () => void;
    const turn = this.queue;
    this.queue = new Promise<void>((r) => (release = r));
    await turn;
    try {
      await this.sequence.clearHistory();
      const generated: Token[] = [];
      const text = new IncrementalText(() => this.model.detokenize(generated, false));
      if (options.maxTokens <= 0) return 'length';
      let pending: Token | undefined;
      const iterator = this.sequence.evaluate(promptTokens, {
        temperature: options.temperature,
        topP: options.topP,
        seed: samplerSeed(options.seed),
      });
      // Each token's text is sent one token late: only then is it known whether it was the last one
      // (whose text must include anything held back).
      for await (const token of iterator) {
        if (this.model.isEogToken(token)) {
          if (pending !== undefined) yield { token: pending, text: text.next(true) };
          return 'stop';
        }
        if (pending !== undefined) yield { token: pending, text: text.next(false) };
        generated.push(token);
        pending = token;
        if (generated.length >= options.maxTokens) {
          yield { token, text: text.next(true) };
          return 'length';
        }
      }
      if (pending !== undefined) yield { token: pending, text: text.next(true) };
      return 'stop';
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    await this.context.dispose();
    await this.model.dispose();
    await this.llama.dispose();
  }
}
