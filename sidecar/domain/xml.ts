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

const SUBJECT = 'domain XML';

export function parseDomainXml(xml: string): XmlElement {
  if (Buffer.byteLength(xml) > MAX_DOMAIN_XML_BYTES) {
    throw new InvalidInputError(SUBJECT, 'size', `${Buffer.byteLength(xml)} bytes`, `at most ${MAX_DOMAIN_XML_BYTES} bytes`);
  }
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) {
    throw new InvalidInputError(SUBJECT, 'document type declaration', '<!DOCTYPE/<!ENTITY>', 'none (libvirt domain XML has no DTD)');
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
