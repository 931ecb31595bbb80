// Per-token text for streams: an unfinished UTF-8 character is held back until a later token completes
// it, and the last token releases whatever is left, so the chunks concatenate to the whole text.
import test from 'ava';
import { IncrementalText } from '../../engine/src/incremental-text.js';

test('a character split over two tokens goes out with the second', (t) => {
  const bytes: number[] = [];
  const text = new IncrementalText(() => Buffer.from(bytes).toString('utf8'));
  bytes.push(0x61);
  t.is(text.next(false), 'a');
  bytes.push(0xc3); // first byte of "é"
  t.is(text.next(false), '', 'held back: the character is unfinished');
  bytes.push(0xa9);
  t.is(text.next(false), 'é');
  bytes.push(0x62);
  t.is(text.next(true), 'b');
  t.is(text.text, 'aéb');
});

test('the last token releases a character that never finished', (t) => {
  const bytes: number[] = [0x61, 0xe2, 0x9c];
  const text = new IncrementalText(() => Buffer.from(bytes).toString('utf8'));
  t.is(text.next(false), 'a');
  t.is(text.next(true), '\uFFFD');
  t.is(text.text, Buffer.from(bytes).toString('utf8'));
});
