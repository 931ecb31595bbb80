// Text for one token at a time. A token can be part of a UTF-8 character (byte-fallback vocabularies
// split "é" over two tokens), and some tokenizers decode a token differently depending on the ones before
// it (a leading space), so each token's text is what decoding everything so far adds to what was already
// sent, and a trailing replacement character (an unfinished character) is held back until the next token
// completes it or the completion ends.

const REPLACEMENT = '\uFFFD';

export class IncrementalText {
  private sent = '';

  /** @param decode the full text of the tokens generated so far */
  constructor(private readonly decode: () => string) {}

  /** The text the latest token adds; `final` releases anything held back. */
  next(final: boolean): string {
    let text = this.decode();
    if (!final) {
      while (text.endsWith(REPLACEMENT) && text.length > this.sent.length) text = text.slice(0, -1);
    }
    // Decoding more tokens can in principle rewrite earlier text; what was sent stays sent, and only
    // text beyond it goes out.
    const delta = text.length > this.sent.length ? text.slice(this.sent.length) : '';
    this.sent += delta;
    return delta;
  }

  get text(): string {
    return this.sent;
  }
}
