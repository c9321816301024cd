// A canonical form of an XML document, built with @xmldom/xmldom, a parser independent of the
// xml2js code under test: element names, attributes sorted by name, trimmed text, children in
// order. Two documents with the same canonical form have the same meaning to libvirt.
import { DOMParser, type Element, type Node } from '@xmldom/xmldom';

interface CanonicalElement {
  tag: string;
  attributes: [string, string][];
  text: string;
  children: CanonicalElement[];
}

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_NODE = 4;

function canonicalElement(element: Element, keep: (element: Element) => boolean): CanonicalElement {
  const attributes: [string, string][] = [];
  for (let i = 0; i < element.attributes.length; i++) {
    const attribute = element.attributes.item(i)!;
    attributes.push([attribute.name, attribute.value]);
  }
  attributes.sort(([a], [b]) => a.localeCompare(b));
  let text = '';
  const children: CanonicalElement[] = [];
  for (let node: Node | null = element.firstChild; node; node = node.nextSibling) {
    if (node.nodeType === TEXT_NODE || node.nodeType === CDATA_NODE) text += node.nodeValue ?? '';
    if (node.nodeType === ELEMENT_NODE && keep(node as Element)) children.push(canonicalElement(node as Element, keep));
  }
  return { tag: element.tagName, attributes, text: text.trim(), children };
}

export function parseXmlIndependently(xml: string): Element {
  const document = new DOMParser({ onError: (level, message) => { if (level !== 'warning') throw new Error(message); } })
    .parseFromString(xml, 'text/xml');
  return document.documentElement!;
}

/** The canonical form as a string, leaving out the elements `drop` selects (and their subtrees). */
export function canonicalXml(xml: string, drop: (element: Element) => boolean = () => false): string {
  return JSON.stringify(canonicalElement(parseXmlIndependently(xml), (element) => !drop(element)), null, 1);
}

/** Selects <devices><interface> elements whose alias is one of these. */
export function interfacesWithAliases(aliases: readonly string[]): (element: Element) => boolean {
  const wanted = new Set(aliases);
  return (element) => {
    if (element.tagName !== 'interface' || (element.parentNode as Element | null)?.tagName !== 'devices') return false;
    const alias = element.getElementsByTagName('alias').item(0)?.getAttribute('name');
    return alias !== null && alias !== undefined && wanted.has(alias);
  };
}

/** The domain's <memoryBacking>, which the sidecar's memory rule owns (sidecar/domain/memory-backing.ts). */
export const isMemoryBacking = (element: Element): boolean => element.tagName === 'memoryBacking' && (element.parentNode as Element | null)?.tagName === 'domain';

/** What the rewrite owns: the converted interfaces, and the memory backing it makes shared. */
export function rewrittenParts(aliases: readonly string[]): (element: Element) => boolean {
  const converted = interfacesWithAliases(aliases);
  return (element) => converted(element) || isMemoryBacking(element);
}

/** The <memoryBacking> children of a domain, as tag → attributes, from the independent parser. */
export function memoryBackingOf(xml: string): Record<string, Record<string, string>> | undefined {
  const backing = Array.from(parseXmlIndependently(xml).childNodes).find((node) => node.nodeType === ELEMENT_NODE && (node as Element).tagName === 'memoryBacking') as Element | undefined;
  if (backing === undefined) return undefined;
  const children: Record<string, Record<string, string>> = {};
  for (let node: Node | null = backing.firstChild; node; node = node.nextSibling) {
    if (node.nodeType !== ELEMENT_NODE) continue;
    const child = node as Element;
    children[child.tagName] = Object.fromEntries(Array.from({ length: child.attributes.length }, (_, i) => [child.attributes.item(i)!.name, child.attributes.item(i)!.value]));
  }
  return children;
}

/** The <interface> element with this alias, from the independent parser. */
export function interfaceByAlias(xml: string, alias: string): Element | undefined {
  const interfaces = parseXmlIndependently(xml).getElementsByTagName('interface');
  for (let i = 0; i < interfaces.length; i++) {
    const iface = interfaces.item(i)!;
    if (iface.getElementsByTagName('alias').item(0)?.getAttribute('name') === alias) return iface;
  }
  return undefined;
}
