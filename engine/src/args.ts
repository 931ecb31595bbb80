// The engine's command line. The flags are the ones the pod builder's `llama-cpp` server preset passes
// (--model, --host, --port, --served-model-name), so a replica's container args need no translation.

export interface EngineArgs {
  /** Path to the GGUF file to serve. */
  model: string;
  host: string;
  port: number;
  /** The name clients put in `model`, listed by GET /v1/models. */
  servedModelName: string;
  /** Tokens the context holds (prompt + completion); 0 = the model's training context length. */
  contextSize: number;
  /**
   * CPU threads llama.cpp computes with; 0 = its own choice (every core the machine has). The default is
   * 1: llama.cpp's threads spin while they wait for each other, so more threads than the CPUs a pod is
   * actually given (its limit, other load) make every token slower, and the small models this engine
   * serves gain little from more.
   */
  threads: number;
}

export const ENGINE_USAGE =
  'usage: chrysalis-engine --model <file.gguf> [--host 127.0.0.1] [--port 8000] [--served-model-name <name>] [--context-size <tokens>] [--threads <n>]';

/** Parses the engine's flags; a bad or missing one throws an error naming it and what to pass. */
export function parseEngineArgs(argv: readonly string[]): EngineArgs {
  const values = new Map<string, string>();
  const known = new Set(['--model', '--host', '--port', '--served-model-name', '--context-size', '--threads']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const [flag, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    if (!known.has(flag)) throw new Error(`unknown argument ${JSON.stringify(arg)}\n${ENGINE_USAGE}`);
    const value = inline ?? argv[++i];
    if (value === undefined || value === '') throw new Error(`${flag} needs a value\n${ENGINE_USAGE}`);
    values.set(flag, value);
  }
  const model = values.get('--model');
  if (!model) throw new Error(`--model is required: the path of the GGUF file to serve\n${ENGINE_USAGE}`);
  const port = integer(values.get('--port') ?? '8000', '--port', 0, 65535);
  const contextSize = integer(values.get('--context-size') ?? '0', '--context-size', 0, 1 << 24);
  const threads = integer(values.get('--threads') ?? '1', '--threads', 0, 1024);
  const servedModelName = values.get('--served-model-name') ?? model.replace(/^.*\//, '').replace(/\.gguf$/i, '');
  return { model, host: values.get('--host') ?? '127.0.0.1', port, servedModelName, contextSize, threads };
}

function integer(text: string, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new Error(`${flag} ${JSON.stringify(text)}: expected an integer from ${min} to ${max}`);
  return n;
}
