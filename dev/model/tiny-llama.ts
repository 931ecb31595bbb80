// The tiny test model: a real llama-architecture GGUF that llama.cpp loads and runs on a CPU in seconds,
// made here from a seed instead of downloaded. Its vocabulary is byte-level — <unk>, <s>, </s>, the 256
// byte tokens <0x00>…<0xFF> and "▁" (SentencePiece's space) — so any text tokenizes through llama.cpp's
// byte fallback and every completion decodes to bytes. Weights are random (normal, std 0.02; norms 1),
// so what it says is noise; what matters to the tests is that a real engine loads, tokenizes and samples.
import { array, f32, GgufType, str, u32, writeGguf, type GgufTensor, type GgufValue } from './gguf-writer.js';
import { seededNormal } from './seeded-normal.js';

export interface TinyLlamaShape {
  embedding: number;
  blocks: number;
  heads: number;
  feedForward: number;
  contextLength: number;
}

export const TINY_LLAMA_SHAPE: TinyLlamaShape = { embedding: 64, blocks: 2, heads: 4, feedForward: 128, contextLength: 2048 };

// SentencePiece token types as llama.cpp reads tokenizer.ggml.token_type.
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const BYTE = 6;

export const TINY_LLAMA_UNK = 0;
export const TINY_LLAMA_BOS = 1;
export const TINY_LLAMA_EOS = 2;

/** The 260-token byte-level vocabulary: text, SentencePiece score and type per id. */
export function tinyLlamaVocabulary(): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [UNKNOWN, CONTROL, CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(BYTE);
  }
  tokens.push('▁');
  types.push(NORMAL);
  return { tokens, scores: tokens.map(() => 0), types };
}

/** The model's GGUF bytes; the same seed always gives the same bytes. */
export function tinyLlamaGguf(seed: number, shape: TinyLlamaShape = TINY_LLAMA_SHAPE): Buffer {
  const { embedding: n, blocks, heads, feedForward: ff, contextLength } = shape;
  if (n % heads !== 0) throw new Error(`tiny llama: embedding ${n} is not a multiple of heads ${heads}`);
  const vocab = tinyLlamaVocabulary();
  const vocabSize = vocab.tokens.length;
  const normal = seededNormal(seed, 0.02);
  const random = (name: string, dims: number[]): GgufTensor => {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = normal();
    return { name, dims, data };
  };
  const ones = (name: string, length: number): GgufTensor => ({ name, dims: [length], data: new Float32Array(length).fill(1) });

  const tensors: GgufTensor[] = [random('token_embd.weight', [n, vocabSize])];
  for (let b = 0; b < blocks; b++) {
    tensors.push(
      ones(`blk.${b}.attn_norm.weight`, n),
      random(`blk.${b}.attn_q.weight`, [n, n]),
      random(`blk.${b}.attn_k.weight`, [n, n]),
      random(`blk.${b}.attn_v.weight`, [n, n]),
      random(`blk.${b}.attn_output.weight`, [n, n]),
      ones(`blk.${b}.ffn_norm.weight`, n),
      random(`blk.${b}.ffn_gate.weight`, [n, ff]),
      random(`blk.${b}.ffn_up.weight`, [n, ff]),
      random(`blk.${b}.ffn_down.weight`, [ff, n]),
    );
  }
  tensors.push(ones('output_norm.weight', n), random('output.weight', [n, vocabSize]));

  const metadata: [string, GgufValue][] = [
    ['general.architecture', str('llama')],
    ['general.name', str(`chrysalis-tiny-llama-seed-${seed}`)],
    ['general.file_type', u32(0)], // all f32
    ['llama.context_length', u32(contextLength)],
    ['llama.embedding_length', u32(n)],
    ['llama.block_count', u32(blocks)],
    ['llama.feed_forward_length', u32(ff)],
    ['llama.attention.head_count', u32(heads)],
    ['llama.attention.head_count_kv', u32(heads)],
    ['llama.rope.dimension_count', u32(n / heads)],
    ['llama.attention.layer_norm_rms_epsilon', f32(1e-5)],
    ['tokenizer.ggml.model', str('llama')],
    ['tokenizer.ggml.tokens', array(GgufType.STRING, vocab.tokens)],
    ['tokenizer.ggml.scores', array(GgufType.FLOAT32, vocab.scores)],
    ['tokenizer.ggml.token_type', array(GgufType.INT32, vocab.types)],
    ['tokenizer.ggml.unknown_token_id', u32(TINY_LLAMA_UNK)],
    ['tokenizer.ggml.bos_token_id', u32(TINY_LLAMA_BOS)],
    ['tokenizer.ggml.eos_token_id', u32(TINY_LLAMA_EOS)],
  ];
  return writeGguf(metadata, tensors);
}
