// UTF-8 bytes → text for bytes that may be signed or checked byte for byte: invalid UTF-8 is refused,
// never replaced with U+FFFD (a lossy decode would let the text a check judges differ from the bytes).

export interface StrictUtf8Options {
  /**
   * true: a leading byte-order mark stays in the text as U+FEFF, so a reader that refuses one (strict
   * JSON) sees it, and text written back out has the same bytes. false: a leading BOM is dropped, as an
   * XML or PEM reader expects. Every caller says which, so no caller gets the other by default.
   */
  keepBom: boolean;
}

/** The text of `bytes`, or undefined when they are not valid UTF-8. */
export function decodeUtf8Strict(bytes: Uint8Array, options: StrictUtf8Options): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: options.keepBom }).decode(bytes);
  } catch {
    return undefined;
  }
}
