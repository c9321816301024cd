// Every domain the rewrite tests produce goes through libvirt's qemu driver (virsh define), and
// the driver is shown to refuse what the rewrite must avoid, so this check can fail.
import { expect, it } from 'vitest';
import { defineWithQemuDriver } from '../../cli/libvirt.ts';
import { KUBEVIRT_DOMAINS, readKubevirtFile } from '../helpers/kubevirt-files.ts';
import { describeWithLibvirt } from '../helpers/libvirt.ts';
import { requestFor, rewriteCaseOutput, rewriteCases } from '../helpers/rewrite-cases.ts';
import { macFor, masqueradeDefault, vduseInterface } from '../helpers/vmis.ts';
import { rewriteDomain } from '../../sidecar/domain/rewrite.ts';

describeWithLibvirt('libvirt qemu driver accepts every rewritten domain', () => {
  for (const scenario of rewriteCases()) {
    it(`${scenario.fixture}: ${scenario.title}`, async () => {
      const verdict = await defineWithQemuDriver(rewriteCaseOutput(scenario));
      expect(verdict.message).toContain('defined');
      expect(verdict.accepted).toBe(true);
    });
  }

  it.each(KUBEVIRT_DOMAINS)('accepts KubeVirt\'s own %s unchanged (the baseline)', async (fixture) => {
    expect((await defineWithQemuDriver(readKubevirtFile(fixture))).accepted).toBe(true);
  });
});

describeWithLibvirt('libvirt qemu driver refuses what the rewrite must avoid', () => {
  const converted = rewriteDomain(requestFor(readKubevirtFile('domain_x86_64.xml'), [masqueradeDefault, vduseInterface('net1', { macAddress: macFor(0) })]));
  const vdpa = /<interface type="vdpa">[\s\S]*?<\/interface>/;
  const mutate = (change: (iface: string) => string) => converted.replace(vdpa, (iface) => change(iface));

  it.each([
    ['the kept virtio-non-transitional model', (iface: string) => iface.replace('<model type="virtio"/>', '<model type="virtio-non-transitional"/>'), "invalid model for interface of type 'vdpa'"],
    ['an <mtu>', (iface: string) => iface.replace('<model type="virtio"/>', '<model type="virtio"/><mtu size="1500"/>'), 'MTU'],
    ['a <coalesce>', (iface: string) => iface.replace('<model type="virtio"/>', '<model type="virtio"/><coalesce><rx><frames max="7"/></rx></coalesce>'), 'coalesce settings on interface type vdpa are not supported'],
    ['a ring of 300 descriptors', (iface: string) => iface.replace('rx_queue_size="1024"', 'rx_queue_size="300"'), 'power of two'],
  ])('%s', async (_title, change, message) => {
    const broken = mutate(change);
    expect(broken).not.toBe(converted);
    const verdict = await defineWithQemuDriver(broken);
    expect(verdict.accepted).toBe(false);
    expect(verdict.message).toContain(message);
  });

  it('without a model, takes the interface but silently drops its ring sizes: the rewrite always writes virtio', async () => {
    const verdict = await defineWithQemuDriver(mutate((iface) => iface.replace('<model type="virtio"/>', '')), { readBack: true });
    expect(verdict.accepted, verdict.message).toBe(true);
    const defined = /<interface type='vdpa'>[\s\S]*?<\/interface>/.exec(verdict.definedXml ?? '')?.[0];
    expect(defined).toContain("<alias name='ua-net1'/>");
    expect(converted).toContain('rx_queue_size="1024"');
    expect(defined).not.toContain('rx_queue_size');
  });
});
