// The sidecar's memory rule (sidecar/domain/memory-backing.ts) on KubeVirt's converter output: what
// it adds, where, what it keeps, and what it refuses. The scenarios libvirt also defines are in
// test/helpers/rewrite-cases.ts; these are the refusals and the details.
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../api/errors.ts';
import { rewriteDomain } from '../../sidecar/domain/rewrite.ts';
import { memoryBackingOf, parseXmlIndependently } from '../helpers/canonical-xml.ts';
import { readKubevirtFile } from '../helpers/kubevirt-files.ts';
import { requestFor, withMemoryBacking, withNumaCell } from '../helpers/rewrite-cases.ts';
import { macFor, masqueradeDefault, vduseInterface } from '../helpers/vmis.ts';

const xml = readKubevirtFile('domain_x86_64.xml');
const rewrite = (domainXml: string) => rewriteDomain(requestFor(domainXml, [masqueradeDefault, vduseInterface('net1', { macAddress: macFor(0) })]));
const refusal = (domainXml: string): InvalidInputError => {
  try {
    rewrite(domainXml);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return error as InvalidInputError;
  }
  throw new Error('the rewrite accepted it');
};
const topLevelTags = (domainXml: string) =>
  Array.from(parseXmlIndependently(domainXml).childNodes)
    .filter((node) => node.nodeType === 1)
    .map((node) => (node as unknown as { tagName: string }).tagName);

describe('shared guest memory for VDUSE', () => {
  it('puts a new <memoryBacking> right after the memory sizes, with the source before the access', () => {
    const output = rewrite(xml);
    const tags = topLevelTags(output);
    expect(tags.indexOf('memoryBacking')).toBe(tags.indexOf('memory') + 1);
    expect(output).toMatch(/<memoryBacking>\s*<source type="memfd"\/>\s*<access mode="shared"\/>\s*<\/memoryBacking>/);
  });

  it('fills an empty <memoryBacking/> and keeps an existing shared access and file source as they are', () => {
    expect(memoryBackingOf(rewrite(withMemoryBacking(xml, '')))).toEqual({ source: { type: 'memfd' }, access: { mode: 'shared' } });
    const kept = withMemoryBacking(xml, '<source type="file"/><access mode="shared"/><discard/>');
    expect(memoryBackingOf(rewrite(kept))).toEqual(memoryBackingOf(kept));
  });

  it('refuses a private access on the domain, a NUMA cell or a memory device, naming where it is', () => {
    expect(refusal(withMemoryBacking(xml, '<access mode="private"/>')).message).toBe(
      'VirtualMachineInstance mynamespace/testvmi: domain <memoryBacking><access mode>: got "private"; expected "shared", or none: a VDUSE device reaches only guest memory that QEMU maps shared',
    );
    expect(refusal(withNumaCell(xml, ' memAccess="private"')).field).toBe('domain <cpu><numa><cell id="0" memAccess>');
    const privateDimm = xml.replace('</devices>', '<memory model="dimm" access="private"><target><size unit="KiB">131072</size><node>0</node></target></memory></devices>');
    expect(refusal(privateDimm).field).toBe('domain <devices><memory model="dimm"> #1 access');
  });

  it('refuses anonymous memory, which no VDUSE device can reach whatever its access', () => {
    expect(refusal(withMemoryBacking(xml, '<source type="anonymous"/>')).value).toBe('anonymous');
  });

  it('leaves a memory device without an access of its own to inherit the domain\'s', () => {
    const virtioMem = xml.replace('</devices>', '<memory model="virtio-mem"><target><size unit="b">2147483648</size><node>0</node><block unit="b">2097152</block><requested unit="b">0</requested></target></memory></devices>');
    const output = rewrite(withNumaCell(virtioMem));
    expect(output).toContain('<memory model="virtio-mem">');
    expect(output).not.toMatch(/<memory model="virtio-mem" access=/);
    expect(memoryBackingOf(output)?.access).toEqual({ mode: 'shared' });
  });
});
