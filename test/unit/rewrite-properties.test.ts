// Properties of the domain rewrite and the cloud-init merge over generated inputs. Domains are
// KubeVirt's own converter output, mutated: interfaces added as KubeVirt rebuilds them, removed,
// duplicated and reordered, odd attributes and unicode elsewhere. FUZZ_RUNS sets the cases.
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseCoalesce } from '../../api/coalesce.ts';
import { InvalidInputError } from '../../api/errors.ts';
import type { Interface } from '../../api/kubevirt.ts';
import { defineWithQemuDriver } from '../../cli/libvirt.ts';
import { COALESCE_RULES_PATH, coalesceCloudConfig } from '../../sidecar/cloud-init/coalesce-config.ts';
import { mergeUserData } from '../../sidecar/cloud-init/user-data.ts';
import { rewriteDomain } from '../../sidecar/domain/rewrite.ts';
import { canonicalXml, memoryBackingOf, rewrittenParts } from '../helpers/canonical-xml.ts';
import { KUBEVIRT_DOMAINS, kubevirtFile } from '../helpers/kubevirt-files.ts';
import { FUZZ_RUNS as RUNS, fuzzParameters, reportCases } from '../helpers/fuzz.ts';
import { describeWithLibvirt } from '../helpers/libvirt.ts';
import { requestFor } from '../helpers/rewrite-cases.ts';
import { macFor, masqueradeDefault, vduseInterface } from '../helpers/vmis.ts';

const fixtures = KUBEVIRT_DOMAINS.map((name) => readFileSync(kubevirtFile(name), 'utf8'));

const rebuiltInterface = (name: string) => `<interface type="ethernet"><source/><model type="virtio-non-transitional"/><mtu size="1500"/><alias name="ua-${name}"/><rom enabled="no"/></interface>`;
const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

const caseArbitrary = fc.record({
  fixture: fc.nat(fixtures.length - 1),
  networks: fc.uniqueArray(fc.constantFrom('net1', 'net2', 'net3', 'net4'), { maxLength: 4 }),
  rebuilt: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
  duplicateDefault: fc.boolean(),
  reverseInterfaces: fc.boolean(),
  oddAttribute: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }),
  title: fc.option(fc.string({ unit: 'binary', maxLength: 20 }), { nil: undefined }),
  fields: fc.array(fc.record({ model: fc.constantFrom(undefined, 'virtio'), bootOrder: fc.option(fc.integer({ min: 1, max: 20 }), { nil: undefined }) }), { minLength: 4, maxLength: 4 }),
  rxQueueSize: fc.constantFrom(256, 512, 1024),
});

type Case = typeof caseArbitrary extends fc.Arbitrary<infer T> ? T : never;

function build(generated: Case): { xml: string; interfaces: Interface[]; aliases: string[] } {
  let xml = fixtures[generated.fixture]!;
  const interfaces: Interface[] = [
    masqueradeDefault,
    ...generated.networks.map((name, index) =>
      vduseInterface(name, {
        macAddress: macFor(index),
        pciAddress: `0000:${(0x0a + index).toString(16).padStart(2, '0')}:00.0`,
        ...(generated.fields[index]!.model ? { model: generated.fields[index]!.model } : {}),
        // Distinct, as KubeVirt's own validation demands of a VMI.
        ...(generated.fields[index]!.bootOrder ? { bootOrder: generated.fields[index]!.bootOrder * 10 + index } : {}),
      }),
    ),
  ];
  const added = generated.networks.filter((_, index) => generated.rebuilt[index]).map(rebuiltInterface);
  let existing = [...xml.matchAll(/<interface[\s\S]*?<\/interface>/g)].map((match) => match[0]);
  if (generated.duplicateDefault) existing = [...existing, existing[0]!];
  let all = [...existing, ...added];
  if (generated.reverseInterfaces) all = all.reverse();
  // Replacement functions: generated text may hold "$&" and the like.
  xml = xml.replace(/\s*<interface[\s\S]*?<\/interface>/g, '').replace('</devices>', () => `${all.join('')}</devices>`);
  if (generated.oddAttribute !== undefined) xml = xml.replace('<devices>', () => `<devices data-odd="${escapeXml(generated.oddAttribute!)}">`);
  // libvirt refuses a title with newlines; other unicode is fine.
  const title = generated.title?.replace(/[^\u0020-\uD7FF\uE000-\uFFFD]/gu, '');
  if (title !== undefined) xml = xml.replace('</name>', () => `</name><title>${escapeXml(title)}</title>`);
  return { xml, interfaces, aliases: generated.networks.map((name) => `ua-${name}`) };
}

describe('the domain rewrite, on generated domains', () => {
  it('throws nothing but InvalidInputError, is idempotent, and changes nothing outside the converted interfaces', () => {
    let rewritten = 0;
    let refused = 0;
    fc.assert(
      fc.property(caseArbitrary, (generated) => {
        const { xml, interfaces, aliases } = build(generated);
        const request = requestFor(xml, interfaces, { tuning: { rxQueueSize: generated.rxQueueSize } });
        let output: string;
        try {
          output = rewriteDomain(request);
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidInputError);
          expect((error as Error).message).toMatch(/: .+: got .+; expected /);
          refused++;
          return;
        }
        rewritten++;
        expect(rewriteDomain({ ...request, domainXml: output })).toBe(output);
        const outside = rewrittenParts(aliases);
        expect(canonicalXml(output, outside)).toBe(canonicalXml(xml, outside));
        if (aliases.length > 0) expect(memoryBackingOf(output)?.access).toEqual({ mode: 'shared' });
        for (const alias of aliases) expect(output).toContain(`<alias name="${alias}"/>`);
      }),
      fuzzParameters('domain rewrite: typed errors only, idempotent, nothing else changes'),
    );
    reportCases('domain rewrite: typed errors only, idempotent, nothing else changes', { rewritten, refused });
    expect(rewritten).toBeGreaterThan(RUNS / 4);
  });
});

describeWithLibvirt('a sample of generated domains, defined by libvirt', () => {
  it('libvirt\'s qemu driver accepts them', async () => {
    const sample = fc.sample(caseArbitrary, { numRuns: 12, seed: 42 });
    let defined = 0;
    for (const generated of sample) {
      const { xml, interfaces } = build({ ...generated, duplicateDefault: false });
      let output: string;
      try {
        output = rewriteDomain(requestFor(xml, interfaces));
      } catch {
        continue;
      }
      const verdict = await defineWithQemuDriver(output);
      expect(verdict.accepted, verdict.message).toBe(true);
      defined++;
    }
    expect(defined).toBeGreaterThan(5);
  });
});

describe('the cloud-init merge, on generated user data', () => {
  const ours = coalesceCloudConfig([{ name: 'net1', mac: '02:00:00:aa:bb:cc' }], parseCoalesce('rx-usecs=32')!);
  const key = fc.stringMatching(/^[a-z][a-z_]{0,10}$/).filter((name) => !['write_files', 'runcmd'].includes(name));
  const scalar = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.boolean());
  const cloudConfig = fc
    .record({
      keys: fc.dictionary(key, scalar, { maxKeys: 5 }),
      comment: fc.stringMatching(/^[ -~]{0,30}$/),
      runcmd: fc.array(fc.stringMatching(/^[a-z ]{1,12}$/), { maxLength: 3 }),
    })
    .map(({ keys, comment, runcmd }) => {
      const body = { ...keys, ...(runcmd.length ? { runcmd } : {}) };
      const yaml = Object.keys(body).length ? JSON.stringify(body) : '{}';
      return { text: `#cloud-config\n# ${comment}\n${yaml}\n`, body };
    });
  const script = fc.string({ unit: 'grapheme', maxLength: 60 }).map((text) => `#!/bin/sh\n${text.replace(/\r/g, '')}\n`);

  it('keeps the user\'s cloud-config keys and commands, adds ours once, and is idempotent', () => {
    let count = 0;
    fc.assert(
      fc.property(cloudConfig, ({ text, body }) => {
        const merged = mergeUserData(text, ours, 'VirtualMachineInstance ns/vm');
        const parsed = parseYaml(merged) as Record<string, unknown> & { write_files: { path: string }[]; runcmd: unknown[] };
        for (const [name, value] of Object.entries(body)) {
          if (name === 'runcmd') expect(parsed.runcmd).toEqual(expect.arrayContaining(value as unknown[]));
          else expect(parsed[name]).toEqual(value);
        }
        expect(parsed.write_files.filter((file) => file.path === COALESCE_RULES_PATH)).toHaveLength(1);
        expect(mergeUserData(merged, ours, 'VirtualMachineInstance ns/vm')).toBe(merged);
        count++;
      }),
      fuzzParameters('cloud-init merge: #cloud-config kept, ours once, idempotent'),
    );
    reportCases('cloud-init merge: #cloud-config kept, ours once, idempotent', { merged: count });
  });

  it('keeps any other user data byte-for-byte inside the multipart, and is idempotent', () => {
    let count = 0;
    fc.assert(
      fc.property(script, (text) => {
        const merged = mergeUserData(text, ours, 'VirtualMachineInstance ns/vm');
        expect(merged).toContain(text);
        expect(merged).toMatch(/^Content-Type: multipart\/mixed; boundary="[^"]+"/);
        expect(mergeUserData(merged, ours, 'VirtualMachineInstance ns/vm')).toBe(merged);
        count++;
      }),
      fuzzParameters('cloud-init merge: other user data byte-for-byte, idempotent'),
    );
    reportCases('cloud-init merge: other user data byte-for-byte, idempotent', { merged: count });
  });
});
