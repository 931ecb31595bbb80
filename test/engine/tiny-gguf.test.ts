// The tiny llama GGUF (dev/model/tiny-llama.ts) is deterministic in its seed, reads back through
// node-llama-cpp's own GGUF parser with the metadata and tensors llama.cpp's llama architecture needs,
// and llama.cpp (node-llama-cpp's prebuilt CPU build) loads it, tokenizes through the byte vocabulary and
// generates tokens.
import test from 'ava';
import { getLlama, readGgufFileInfo } from 'node-llama-cpp';
import { tinyLlamaGguf } from '../../dev/model/tiny-llama.js';
import { writeTinyModel } from './tiny-model.js';

test('the same seed gives the same bytes, another seed other weights', (t) => {
  const a = tinyLlamaGguf(1);
  t.true(a.equals(tinyLlamaGguf(1)));
  const b = tinyLlamaGguf(2);
  t.is(a.length, b.length);
  t.false(a.equals(b));
  t.is(a.subarray(0, 4).toString('ascii'), 'GGUF');
  t.is(a.readUInt32LE(4), 3, 'GGUF version 3');
  t.true(a.length < 600_000, `${a.length} bytes`);
});

test('node-llama-cpp reads the file back: llama architecture, 260-token byte vocabulary, 21 aligned f32 tensors', async (t) => {
  const model = await writeTinyModel(5);
  try {
    const info = await readGgufFileInfo(model.path, { readTensorInfo: true });
    t.is(info.version, 3);
    const meta = info.metadata as unknown as Record<string, Record<string, unknown>>;
    t.is(meta.general!.architecture, 'llama');
    const llama = meta.llama as Record<string, unknown> & { attention: Record<string, unknown>; rope: Record<string, unknown> };
    t.is(llama.embedding_length, 64);
    t.is(llama.block_count, 2);
    t.is(llama.feed_forward_length, 128);
    t.is(llama.attention.head_count, 4);
    t.is(llama.rope.dimension_count, 16);
    const tokenizer = (meta.tokenizer as { ggml: { model: string; tokens: string[]; token_type: number[] } }).ggml;
    t.is(tokenizer.model, 'llama');
    t.is(tokenizer.tokens.length, 260);
    t.deepEqual(tokenizer.tokens.slice(0, 4), ['<unk>', '<s>', '</s>', '<0x00>']);
    t.is(tokenizer.tokens[259], '▁');
    const tensors = info.fullTensorInfo ?? [];
    t.is(tensors.length, 1 + 2 * 9 + 2);
    t.deepEqual(tensors.find((x) => x.name === 'token_embd.weight')?.dimensions.map(Number), [64, 260]);
    t.deepEqual(tensors.find((x) => x.name === 'blk.1.ffn_down.weight')?.dimensions.map(Number), [128, 64]);
    for (const tensor of tensors) t.is(Number(tensor.offset) % 32, 0, `${tensor.name} offset aligned to 32`);
  } finally {
    await model.remove();
  }
});

test('llama.cpp loads the model on the CPU, round-trips text through its byte vocabulary and generates tokens', async (t) => {
  const file = await writeTinyModel(1);
  const llama = await getLlama({ gpu: false, build: 'never' });
  try {
    const model = await llama.loadModel({ modelPath: file.path });
    const text = 'Hello, wörld ✓';
    const tokens = model.tokenize(text);
    // Every byte is one byte token except spaces, which are "▁" (id 259), plus the leading "▁".
    t.is(tokens.length, Buffer.byteLength(text) + 1);
    t.is(model.detokenize(tokens), text);
    const context = await model.createContext({ contextSize: 256 });
    const generated: number[] = [];
    for await (const token of context.getSequence().evaluate([model.tokens.bos!, ...tokens], { temperature: 0.8, seed: 7 })) {
      generated.push(token);
      if (generated.length === 8) break;
    }
    t.is(generated.length, 8);
    for (const token of generated) t.true(token >= 0 && token < 260);
  } finally {
    await llama.dispose();
    await file.remove();
  }
});
