// The XML that NVIDIA's reference integrity manifests (RIMs) use, and nothing more: a namespace-aware
// reader and the Canonical XML 1.1 serialization (W3C xml-c14n11, without comments) that their enveloped
// XML signatures are computed over. Deliberately a subset, failing closed on everything outside it:
//   refused  DOCTYPE (so no entity definitions or external references), comments, CDATA sections,
//            processing instructions (other than one leading XML declaration), any xml:* attribute
//            (c14n 1.1 would inherit xml:lang/xml:space/xml:base into a subset), unbound prefixes,
//            repeated attributes, non-whitespace text outside the root element, invalid UTF-8
//   handled  elements, attributes in either quote style, the five predefined entities and numeric
//            character references, line-end and attribute-value normalization (XML 1.0 §2.11, §3.3.3)
// A RIM that needs more is refused as MALFORMED_EVIDENCE rather than canonicalized differently from its
// signer: any difference would only make a valid signature fail, but a reader that silently differs from
// the signer's about what the document says is how signature-wrapping bugs start.
import { decodeUtf8Strict } from '../../util/strict-utf8.js';
import { AttestationError } from '../reasons.js';

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

export interface XmlAttribute {
  qname: string;
  prefix: string;
  local: string;
  /** '' for an unprefixed attribute (no namespace). */
  ns: string;
  value: string;
}

export interface XmlElement {
  kind: 'element';
  qname: string;
  prefix: string;
  local: string;
  ns: string;
  attributes: XmlAttribute[];
  /** Namespace declarations on this element: prefix ('' = default) → URI. */
  declarations: Map<string, string>;
  /** Every namespace in scope here (inherited and declared), the xml prefix excluded. */
  inScope: Map<string, string>;
  children: XmlNode[];
  parent: XmlElement | undefined;
}

export interface XmlText {
  kind: 'text';
  value: string;
}

export type XmlNode = XmlElement | XmlText;

function fail(message: string): never {
  throw new AttestationError('MALFORMED_EVIDENCE', `RIM XML: ${message}`);
}

const NAME = /^[A-Za-z_][A-Za-z0-9._-]*(?::[A-Za-z_][A-Za-z0-9._-]*)?$/;
const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeReferences(raw: string, where: string): string {
  return raw.replace(/&([^;&<]*);?/g, (match, body: string) => {
    if (!match.endsWith(';')) fail(`a bare "&" in ${where}`);
    if (body in PREDEFINED) return PREDEFINED[body]!;
    const numeric = /^#(?:x([0-9A-Fa-f]{1,6})|([0-9]{1,7}))$/.exec(body);
    if (!numeric) fail(`entity reference "&${body};" in ${where} is not one of the predefined five or a character reference`);
    const code = numeric[1] !== undefined ? parseInt(numeric[1], 16) : parseInt(numeric[2]!, 10);
    const allowed = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
    if (!allowed) fail(`character reference "&${body};" in ${where} is not an XML character`);
    return String.fromCodePoint(code);
  });
}

function splitName(qname: string): { prefix: string; local: string } {
  const colon = qname.indexOf(':');
  return colon === -1 ? { prefix: '', local: qname } : { prefix: qname.slice(0, colon), local: qname.slice(colon + 1) };
}

/** Parses a RIM's bytes (UTF-8) into its root element. */
export function parseXml(bytes: Uint8Array): XmlElement {
  // XML 1.0 Appendix F: a leading byte-order mark is the encoding signature, not content.
  let text = decodeUtf8Strict(bytes, { keepBom: false }) ?? fail('the document is not valid UTF-8');
  // XML 1.0 §2.2: a document holds no control characters but tab, LF and CR (nor U+FFFE, U+FFFF).
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/.test(text)) fail('the document holds a character XML does not allow');
  // XML 1.0 §2.11: every CR LF and lone CR is read as LF.
  text = text.replace(/\r\n?/g, '\n');
  let pos = 0;
  const decl = /^<\?xml[ \t\n][^?<>]*\?>/.exec(text);
  if (decl) pos = decl[0].length;

  let root: XmlElement | undefined;
  const stack: XmlElement[] = [];
  while (pos < text.length) {
    const lt = text.indexOf('<', pos);
    const textEnd = lt === -1 ? text.length : lt;
    if (textEnd > pos) {
      const raw = text.slice(pos, textEnd);
      const parent = stack[stack.length - 1];
      if (!parent) {
        if (!/^[ \t\n]*$/.test(raw)) fail('text outside the root element');
      } else {
        if (raw.includes('>') && raw.includes(']]>')) fail('"]]>" in text');
        parent.children.push({ kind: 'text', value: decodeReferences(raw, `the text of <${parent.qname}>`) });
      }
    }
    if (lt === -1) break;
    pos = lt;
    if (text.startsWith('<!--', pos)) fail('comments are not accepted');
    if (text.startsWith('<![CDATA[', pos)) fail('CDATA sections are not accepted');
    if (text.startsWith('<!', pos)) fail('DOCTYPE and other declarations are not accepted');
    if (text.startsWith('<?', pos)) fail('processing instructions are not accepted');
    if (text.startsWith('</', pos)) {
      const m = /^<\/([^ \t\n>]+)[ \t\n]*>/.exec(text.slice(pos, pos + 512));
      if (!m) fail('a malformed end tag');
      const open = stack.pop();
      if (!open || open.qname !== m[1]) fail(`end tag </${m[1]}> does not close <${open?.qname ?? '(nothing)'}>`);
      pos += m[0].length;
      continue;
    }
    // Start tag: name, attributes, then ">" or "/>".
    const nameMatch = /^<([^ \t\n/>]+)/.exec(text.slice(pos, pos + 512));
    if (!nameMatch || !NAME.test(nameMatch[1]!)) fail(`a malformed start tag at offset ${pos}`);
    const qname = nameMatch[1]!;
    pos += nameMatch[0].length;
    const rawAttributes: { qname: string; value: string }[] = [];
    let selfClosing = false;
    for (;;) {
      const ws = /^[ \t\n]*/.exec(text.slice(pos, pos + 4096))![0].length;
      pos += ws;
      if (text.startsWith('/>', pos)) {
        selfClosing = true;
        pos += 2;
        break;
      }
      if (text.startsWith('>', pos)) {
        pos += 1;
        break;
      }
      if (ws === 0) fail(`attributes of <${qname}> must be separated by whitespace`);
      const a = /^([^ \t\n=/>]+)[ \t\n]*=[ \t\n]*(?:"([^"<]*)"|'([^'<]*)')/.exec(text.slice(pos, pos + 1_000_000));
      if (!a || !NAME.test(a[1]!)) fail(`a malformed attribute in <${qname}>`);
      // XML 1.0 §3.3.3: literal whitespace characters in a value read as spaces (references are kept).
      const raw = (a[2] ?? a[3]!).replace(/[\t\n]/g, ' ');
      if (rawAttributes.some((r) => r.qname === a[1])) fail(`<${qname}> repeats attribute ${a[1]}`);
      rawAttributes.push({ qname: a[1]!, value: decodeReferences(raw, `attribute ${a[1]} of <${qname}>`) });
      pos += a[0].length;
    }

    const parent = stack[stack.length - 1];
    if (!parent && root) fail('more than one root element');
    const declarations = new Map<string, string>();
    for (const r of rawAttributes) {
      if (r.qname === 'xmlns') declarations.set('', r.value);
      else if (r.qname.startsWith('xmlns:')) {
        const prefix = r.qname.slice(6);
        if (prefix === 'xml' || prefix === 'xmlns' || r.value === '') fail(`<${qname}> declares the reserved or empty namespace prefix ${prefix}`);
        declarations.set(prefix, r.value);
      }
    }
    const inScope = new Map(parent?.inScope ?? []);
    for (const [prefix, uri] of declarations) {
      if (prefix === '' && uri === '') inScope.delete('');
      else inScope.set(prefix, uri);
    }
    const resolve = (prefix: string, isAttribute: boolean): string => {
      if (prefix === '') return isAttribute ? '' : inScope.get('') ?? '';
      if (prefix === 'xml') return XML_NS;
      const uri = inScope.get(prefix);
      if (uri === undefined) fail(`prefix "${prefix}" in <${qname}> is not declared`);
      return uri;
    };
    const { prefix, local } = splitName(qname);
    const attributes: XmlAttribute[] = [];
    for (const r of rawAttributes) {
      if (r.qname === 'xmlns' || r.qname.startsWith('xmlns:')) continue;
      const n = splitName(r.qname);
      if (n.prefix === 'xml') fail(`<${qname}> carries ${r.qname}; xml:* attributes are not accepted`);
      const ns = resolve(n.prefix, true);
      if (ns === XMLNS_NS) fail(`<${qname}> uses the xmlns namespace for an attribute`);
      if (attributes.some((x) => x.ns === ns && x.local === n.local)) fail(`<${qname}> repeats attribute {${ns}}${n.local}`);
      attributes.push({ qname: r.qname, prefix: n.prefix, local: n.local, ns, value: r.value });
    }
    const element: XmlElement = { kind: 'element', qname, prefix, local, ns: resolve(prefix, false), attributes, declarations, inScope, children: [], parent };
    if (parent) parent.children.push(element);
    else root = element;
    if (!selfClosing) stack.push(element);
  }
  if (stack.length > 0) fail(`<${stack[stack.length - 1]!.qname}> is never closed`);
  if (!root) fail('no root element');
  return root;
}

export function childElements(element: XmlElement): XmlElement[] {
  return element.children.filter((c): c is XmlElement => c.kind === 'element');
}

export function attribute(element: XmlElement, local: string, ns = ''): string | undefined {
  return element.attributes.find((a) => a.local === local && a.ns === ns)?.value;
}

/** The element's text content (its text children only; fails on mixed content). */
export function textOf(element: XmlElement): string {
  if (element.children.some((c) => c.kind === 'element')) fail(`<${element.qname}> holds elements where text was expected`);
  return element.children.map((c) => (c as XmlText).value).join('');
}

function escapeText(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#xD;');
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;').replace(/\t/g, '&#x9;').replace(/\n/g, '&#xA;').replace(/\r/g, '&#xD;');
}

function compareCodePoints(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function render(element: XmlElement, renderedScope: Map<string, string>, exclude: XmlElement | undefined, out: string[]): void {
  if (element === exclude) return;
  // A namespace node is written where it differs from what the nearest written ancestor declared;
  // xmlns="" only when that ancestor had a non-empty default (c14n 1.1 §2.3 / c14n 1.0 §4.7).
  const namespaces: [string, string][] = [];
  for (const [prefix, uri] of element.inScope) if (renderedScope.get(prefix) !== uri) namespaces.push([prefix, uri]);
  if (!element.inScope.has('') && (renderedScope.get('') ?? '') !== '') namespaces.push(['', '']);
  namespaces.sort((a, b) => compareCodePoints(a[0], b[0]));
  const attributes = [...element.attributes].sort((a, b) => compareCodePoints(a.ns, b.ns) || compareCodePoints(a.local, b.local));
  out.push(`<${element.qname}`);
  for (const [prefix, uri] of namespaces) out.push(prefix === '' ? ` xmlns="${escapeAttribute(uri)}"` : ` xmlns:${prefix}="${escapeAttribute(uri)}"`);
  for (const a of attributes) out.push(` ${a.qname}="${escapeAttribute(a.value)}"`);
  out.push('>');
  const scope = new Map(renderedScope);
  for (const [prefix, uri] of namespaces) scope.set(prefix, uri);
  for (const child of element.children) {
    if (child.kind === 'text') out.push(escapeText(child.value));
    else render(child, scope, exclude, out);
  }
  out.push(`</${element.qname}>`);
}

/**
 * Canonical XML 1.1 (without comments) of the subtree at `element`, minus the subtree at `exclude`
 * (the enveloped-signature transform). For an element below the root this is the document subset whose
 * apex it is: every namespace in scope is written on it. Inputs with xml:* attributes never get here, so
 * c14n 1.1's inheritance of xml:lang, xml:space and xml:base into a subset has nothing to do.
 */
export function canonicalize(element: XmlElement, exclude?: XmlElement): Uint8Array {
  const out: string[] = [];
  render(element, new Map(), exclude, out);
  return new Uint8Array(Buffer.from(out.join(''), 'utf8'));
}
