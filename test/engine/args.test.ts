// The engine's flags are the pod builder's llama-cpp preset's (--model --host --port --served-model-name);
// a missing or malformed one is refused with its name.
import test from 'ava';
import { parseEngineArgs } from '../../engine/src/args.js';

test('the llama-cpp preset\'s flags parse, in both --flag value and --flag=value forms', (t) => {
  t.deepEqual(parseEngineArgs(['--model', '/models/m.gguf', '--host', '0.0.0.0', '--port=8080', '--served-model-name', 'tiny']), {
    model: '/models/m.gguf',
    host: '0.0.0.0',
    port: 8080,
    servedModelName: 'tiny',
    contextSize: 0,
    threads: 1,
  });
});

test('defaults: loopback, port 8000, the file name as the served name', (t) => {
  const args = parseEngineArgs(['--model', '/m/Tiny-Llama.gguf']);
  t.is(args.host, '127.0.0.1');
  t.is(args.port, 8000);
  t.is(args.servedModelName, 'Tiny-Llama');
});

test('bad flags are refused by name', (t) => {
  t.throws(() => parseEngineArgs([]), { message: /--model is required/ });
  t.throws(() => parseEngineArgs(['--model', 'm', '--port', '80a']), { message: /--port "80a"/ });
  t.throws(() => parseEngineArgs(['--model', 'm', '--port', '70000']), { message: /--port/ });
  t.throws(() => parseEngineArgs(['--model', 'm', '--gpu-layers', '3']), { message: /unknown argument "--gpu-layers"/ });
  t.throws(() => parseEngineArgs(['--model']), { message: /--model needs a value/ });
});
