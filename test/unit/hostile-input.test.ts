// Hostile input to the pure parts: XML entity attacks, huge and deep documents, broken encodings;
// JSON that is deep, duplicated, prototype-polluting or numerically absurd. Each is refused with
// a typed error that names what is wrong, fast and within bounded memory, and nothing leaks.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../api/errors.ts';
import { rewriteDomain } from '../../sidecar/domain/rewrite.ts';
import { decodeUtf8 } from '../../sidecar/domain/xml.ts';
import { parseVmiBytes } from '../../sidecar/callbacks.ts';
import { parseAdmissionReview } from '../../webhook/admission-review.ts';
import { decideFor, POLICY_ENABLED } from '../helpers/admission.ts';
import { kubevirtFile } from '../helpers/kubevirt-files.ts';
import { requestFor } from '../helpers/rewrite-cases.ts';
import { vmWith } from '../helpers/vms.ts';
import { macFor, masqueradeDefault, vduseInterface } from '../helpers/vmis.ts';

const fixture = readFileSync(kubevirtFile('domain_x86_64.xml'), 'utf8');
const interfaces = [masqueradeDefault, vduseInterface('net1', { macAddress: macFor(0), pciAddress: '0000:0a:00.0' })];
const rewrite = (xml: string) => rewriteDomain(requestFor(xml, interfaces));

/** Runs fn, which must throw an InvalidInputError; returns it with the time and heap growth. */
function refusal(fn: () => unknown): { error: InvalidInputError; ms: number; heapGrowthMiB: number } {
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  try {
    fn();
  } catch (error) {
    const ms = performance.now() - started;
    const heapGrowthMiB = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
    if (!(error instanceof InvalidInputError)) throw new Error(`expected an InvalidInputError, got ${String(error)}`, { cause: error });
    return { error, ms, heapGrowthMiB };
  }
  throw new Error('expected a refusal');
}

const withDoctype = (doctype: string, body = '<domain type="kvm">&x;</domain>') => `<?xml version="1.0"?>\n${doctype}\n${body}`;

describe('hostile domain XML', () => {
  it.each([
    ['billion laughs (internal entities)', withDoctype(`<!DOCTYPE domain [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY x "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>`)],
    ['an external entity (XXE) reading /etc/passwd', withDoctype('<!DOCTYPE domain [<!ENTITY x SYSTEM "file:///etc/passwd">]>')],
    ['a parameter entity', withDoctype('<!DOCTYPE domain [<!ENTITY % p SYSTEM "file:///etc/hostname"> %p;]>', '<domain type="kvm"/>')],
    ['a lower-case doctype', withDoctype('<!doctype domain [<!entity x "y">]>')],
  ])('refuses %s without expanding or reading anything', (_title, xml) => {
    const { error, ms } = refusal(() => rewrite(xml));
    expect(error.message).toContain('domain XML: document type declaration');
    expect(error.message).not.toContain('root:');
    expect(ms).toBeLessThan(50);
  });

  it('refuses a 50 MB document at the size check, before parsing', () => {
    const huge = fixture.replace('</domain>', `<metadata>${'x'.repeat(50 * 1024 * 1024)}</metadata></domain>`);
    const { error, ms } = refusal(() => rewrite(huge));
    expect(error.message).toMatch(/domain XML: size: got "5\d{7} bytes"; expected at most 4194304 bytes/);
    expect(ms).toBeLessThan(500);
  });

  it('refuses 10,000 levels of nesting, fast and without a stack overflow', () => {
    const deep = fixture.replace('</devices>', `</devices><metadata>${'<n>'.repeat(10_000)}${'</n>'.repeat(10_000)}</metadata>`);
    const { error, ms, heapGrowthMiB } = refusal(() => rewrite(deep));
    expect(error.message).toContain('nesting');
    expect(ms).toBeLessThan(1000);
    expect(heapGrowthMiB).toBeLessThan(64);
  });

  it.each([
    ['a NUL byte', fixture.replace('<name>', '<name>\u0000')],
    ['a C0 control character', fixture.replace('<name>', '<name>\u0007')],
    ['a lone surrogate (invalid UTF-8 once decoded)', fixture.replace('<name>', '<name>\uD800')],
    ['a U+FFFE non-character', fixture.replace('<name>', '<name>\uFFFE')],
  ])('refuses %s, which XML 1.0 does not allow', (_title, xml) => {
    const { error } = refusal(() => rewrite(xml));
    expect(error.message).toMatch(/^domain XML: characters: got "U\+[0-9A-F]{4} at offset \d+"/);
  });

  it('refuses bytes that are not UTF-8 as the sidecar receives them, rather than replace them', () => {
    const bytes = Buffer.concat([Buffer.from(fixture.slice(0, 100)), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(fixture.slice(100))]);
    const { error } = refusal(() => decodeUtf8(bytes, 'domain XML', 'encoding'));
    expect(error.message).toBe(`domain XML: encoding: got "${bytes.length} bytes that are not valid UTF-8"; expected UTF-8 text`);
    expect(decodeUtf8(Buffer.from(fixture), 'domain XML', 'encoding')).toBe(fixture);
  });

  it('keeps working after all of that', () => {
    expect(rewrite(fixture)).toContain('<interface type="vdpa">');
  });
});

describe('hostile JSON', () => {
  const deepJson = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

  it('a VMI nested 100,000 deep is refused as a VMI, without a stack overflow', () => {
    const { error } = refusal(() => parseVmiBytes(Buffer.from(deepJson(100_000))));
    expect(error.message).toContain('VMI from virt-launcher');
  });

  it('__proto__ keys do not pollute prototypes, in the sidecar or the webhook', () => {
    const vmi = parseVmiBytes(Buffer.from('{"__proto__":{"polluted":true},"spec":{"domain":{"devices":{"__proto__":{"interfaces":[{"name":"x"}]}}}}}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(vmi.spec.domain.devices.interfaces).toBeUndefined();
    const vm = JSON.parse(JSON.stringify(vmWith({ multus: { dataplane: 'ovs-vduse-a' } })).replace('"metadata":{', '"metadata":{"__proto__":{"labels":{"vduse.kubevirt.io/enabled":"true"}},')) as object;
    const decision = decideFor(vm, {});
    expect(decision.outcome).toBe('skipped');
    expect(({} as Record<string, unknown>).labels).toBeUndefined();
  });

  it('duplicate keys: the last one wins, as in the API server, and the decision follows it', () => {
    const text = JSON.stringify(vmWith({ multus: { dataplane: 'ovs-vduse-a' } })).replace('"metadata":{', '"metadata":{"labels":{"vduse.kubevirt.io/enabled":"true"},"labels":{"vduse.kubevirt.io/enabled":"false"},');
    expect(decideFor(JSON.parse(text), {}).outcome).toBe('skipped');
  });

  it('huge numbers are refused where a field needs a real one', () => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' }, interfaceFields: { dataplane: { bootOrder: 1e308, acpiIndex: Number.MAX_SAFE_INTEGER * 4 } } });
    const decision = decideFor(JSON.parse(JSON.stringify(vm).replace('"bootOrder":1e+308', '"bootOrder":1e999')), { namespaceLabels: POLICY_ENABLED });
    // The webhook passes them through untouched (it does not own them); the sidecar refuses them.
    expect(decision.allowed).toBe(true);
    const { error } = refusal(() => rewriteDomain(requestFor(fixture, [masqueradeDefault, vduseInterface('net1', { macAddress: macFor(0), bootOrder: Infinity })])));
    expect(error.message).toContain('bootOrder');
  });

  it('an AdmissionReview nested deep is a malformed review, not a crash', () => {
    expect(() => parseAdmissionReview(JSON.parse(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${deepJson(5000)}}`))).toThrow('request.uid: missing');
  });
});

describe('hostile object shapes for the webhook', () => {
  it.each([
    ['a Multus network name that is a number', { multus: { networkName: 42 }, name: 'dataplane' }],
    ['a network that is a string', 'dataplane'],
    ['a network with multus null', { multus: null, name: 'dataplane' }],
  ])('%s is denied or skipped with a message, never thrown', (_title, network) => {
    const vm = vmWith({ multus: { dataplane: 'ovs-vduse-a' } }) as unknown as { spec: { template: { spec: { networks: unknown[] } } } };
    vm.spec.template.spec.networks[1] = network;
    const decision = decideFor(vm, { namespaceLabels: POLICY_ENABLED });
    expect(decision.allowed ? decision.outcome : decision.reason).toBeTruthy();
  });
});
