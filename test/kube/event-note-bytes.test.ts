// An Event's note is limited to 1024 bytes by the apiserver (seen: a rejection message full of '‖' and
// '—' was 1024 characters but more bytes, and the Event was refused with 422). The note is cut by UTF-8
// bytes, never inside a character.
import test from 'ava';
import { truncateUtf8 } from '../../operator/src/kube/events.js';

test('a note of 1024 characters with multi-byte ones is cut to at most 1024 UTF-8 bytes', (t) => {
  const message = '‖—'.repeat(600);
  const note = truncateUtf8(message, 1024);
  t.true(Buffer.byteLength(note, 'utf8') <= 1024);
  t.true(Buffer.byteLength(note, 'utf8') > 1020);
  t.true(message.startsWith(note));
});

test('a short note is kept whole, and a cut never splits a surrogate pair', (t) => {
  t.is(truncateUtf8('Verified', 1024), 'Verified');
  const note = truncateUtf8('a' + '😀'.repeat(10), 6);
  t.is(note, 'a😀');
});
