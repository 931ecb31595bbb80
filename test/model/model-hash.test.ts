// The model hash in Cocoon's format, SHA-256 of the UTF-8 string name@commit:root. The expected values
// were computed outside the code under test, with `printf '%s' '<input>' | sha256sum`, and one is
// recomputed by sha256sum here.
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { modelHash, modelHashInput } from '../../operator/src/model/model-hash.js';

const ROOT = '3f1d0c2b5a4e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8';

test('the hash is SHA-256 of name@commit:root (vector computed with sha256sum)', (t) => {
  t.is(modelHashInput('meta-llama/Llama-3.1-8B-Instruct', '0e9e39f249a16976918f6564b8830bc894c89659', ROOT),
    `meta-llama/Llama-3.1-8B-Instruct@0e9e39f249a16976918f6564b8830bc894c89659:${ROOT}`);
  t.is(modelHash('meta-llama/Llama-3.1-8B-Instruct', '0e9e39f249a16976918f6564b8830bc894c89659', ROOT),
    '1fc16547181d673b53f0afb9041b18b811df084e48de1c77f33b29da2ad56a90');
});

test('an absent revision is the empty commit: name@:root', (t) => {
  t.is(modelHash('tiny', '', '0'.repeat(64)), '97d4608632e128cec70432271427658a65e5f2df0a3abde15e3b03634045fc3f');
});

test('a name with non-ASCII characters is hashed as UTF-8, as sha256sum hashes it', (t) => {
  const name = 'modèle/ünï';
  const expected = execFileSync('sha256sum', { input: Buffer.from(`${name}@r1:${ROOT}`, 'utf8') }).toString().split(' ')[0]!;
  t.is(modelHash(name, 'r1', ROOT), expected);
});
