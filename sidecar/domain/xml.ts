// Domain XML <-> xml2js object tree. xml2js groups sibling elements by tag and drops comments;
// KubeVirt's converter already emits siblings grouped by tag and no comments, so for its
// documents the round trip keeps the meaning (the rewrite tests check this on KubeVirt's XML).
import { Builder, Parser } from 'xml2js';
import { InvalidInputError } from '../../api/errors.ts';

/** An element as xml2js represents it with explicitArray: attributes, text, then children by tag. */
export interface XmlElement {
  $?: Record<string, string>;
  _?: string;
  [child: string]: XmlNode[] | Record<string, string> | string | undefined;
}
/** xml2js gives an element with neither attributes nor children as its text, '' when empty. */
export type XmlNode = XmlElement | string;

/** KubeVirt's domains are tens of KiB; this bound only stops a hostile or broken input early. */
export const MAX_DOMAIN_XML_BYTES = 4 * 1024 * 1024;

/** libvirt's domains are under 10 levels deep; deeper means hostile, and the builder recurses. */
export const MAX_DOMAIN_XML_DEPTH = 64;

const SUBJECT = 'domain XML';
/** Characters XML 1.0 does not allow, lone surrogates included (the u flag matches them singly). */
// eslint-disable-next-line no-control-regex -- tab, newline and return are exactly what XML allows.
const NOT_XML_CHARACTER = /[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The bytes virt-launcher sent, as text; refuses what is not UTF-8 rather than replace it. */
export function decodeUtf8(bytes: Uint8Array, subject: string, field: string): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new InvalidInputError(subject, field, `${bytes.length} bytes that are not valid UTF-8`, 'UTF-8 text');
  }
}

/** Depth of the parsed tree, walked without recursion. */
function depthOf(root: XmlElement): number {
  let deepest = 0;
  const pending: [XmlNode, number][] = [[root, 1]];
  while (pending.length > 0) {
    const [node, depth] = pending.pop()!;
    deepest = Math.max(deepest, depth);
    if (typeof node !== 'object' || depth > MAX_DOMAIN_XML_DEPTH) continue;
    for (const [key, value] of Object.entries(node)) {
      if (key !== '$' && key !== '_' && Array.isArray(value)) for (const child of value) pending.push([child, depth + 1]);
    }
  }
  return deepest;
}

export function parseDomainXml(xml: string): XmlElement {
  if (Buffer.byteLength(xml) > MAX_DOMAIN_XML_BYTES) {
    throw new InvalidInputError(SUBJECT, 'size', `${Buffer.byteLength(xml)} bytes`, `at most ${MAX_DOMAIN_XML_BYTES} bytes`);
  }
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) {
    throw new InvalidInputError(SUBJECT, 'document type declaration', '<!DOCTYPE/<!ENTITY>', 'none (libvirt domain XML has no DTD)');
  }
  const bad = NOT_XML_CHARACTER.exec(xml);
  if (bad) {
    const code = bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    throw new InvalidInputError(SUBJECT, 'characters', `U+${code} at offset ${bad.index}`, 'only characters XML 1.0 allows (no NUL, no C0 controls but tab and newlines, no lone surrogates)');
  }
  let parsed: unknown;
  let failure: Error | undefined;
  // With async: false, xml2js calls back before parseString returns.
  new Parser({ explicitArray: true, explicitRoot: true, strict: true, async: false }).parseString(
    xml,
    (error: Error | null, result: unknown) => {
      failure = error ?? undefined;
      parsed = result;
    },
  );
  if (failure) throw new InvalidInputError(SUBJECT, 'document', failure.message.split('\n').join(' '), 'well-formed XML');
  const root = (parsed as Record<string, XmlNode> | null)?.domain;
  if (root === undefined || typeof root !== 'object') {
    const found = parsed && typeof parsed === 'object' ? Object.keys(parsed)[0] : undefined;
    throw new InvalidInputError(SUBJECT, 'root element', found ? `<${found}>` : 'no element', 'a <domain> element');
  }
  const depth = depthOf(root);
  if (depth > MAX_DOMAIN_XML_DEPTH) throw new InvalidInputError(SUBJECT, 'nesting', `more than ${MAX_DOMAIN_XML_DEPTH} levels`, `at most ${MAX_DOMAIN_XML_DEPTH} levels of elements`);
  return root;
}

export function buildDomainXml(root: XmlElement): string {
  return buildElementXml('domain', root);
}

export function buildElementXml(tag: string, element: XmlElement): string {
  return new Builder({ headless: true, renderOpts: { pretty: true, indent: '  ', newline: '\n' } }).buildObject({ [tag]: element });
}

/** The child elements with this tag; text-only children are returned as elements with that text. */
export function childElements(parent: XmlElement, tag: string): XmlElement[] {
  const children = parent[tag];
  if (!Array.isArray(children)) return [];
  return children.map((child) => (typeof child === 'string' ? { _: child } : child));
}

export function attribute(element: XmlElement | undefined, name: string): string | undefined {
  return element?.$?.[name];
}

export function textOf(element: XmlElement | undefined): string | undefined {
  return element?._;
}
