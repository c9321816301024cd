// The end-to-end demo on built-in inputs: KubeVirt's example VM with a VDUSE network, KubeVirt's
// converter output for its domain, and the network-info a VDUSE device plugin would publish.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { VirtualMachine, VirtualMachineInstance } from '../api/kubevirt.ts';
import { parseVmiObject } from '../api/kubevirt.ts';
import { DEFAULT_BINDING_PLUGIN_NAME } from '../api/names.ts';
import { parseNetworkInfo, vdpaDevicesFor } from '../api/network-info.ts';
import { ALIAS_PREFIX } from '../sidecar/domain/vdpa-interface.ts';
import { attribute, buildElementXml, childElements, parseDomainXml } from '../sidecar/domain/xml.ts';
import { domainForVmi, planConversion } from '../sidecar/domain-for-vmi.ts';
import { type Command, EXIT_ERROR, EXIT_OK } from './command.ts';
import { defineWithQemuDriver, libvirtAvailable } from './libvirt.ts';
import { projectRoot } from './project-files.ts';

/** What virt-controller does when it starts a VM: the VMI takes the template's metadata and spec. */
function vmiFromVm(vm: VirtualMachine): VirtualMachineInstance {
  return {
    apiVersion: vm.apiVersion,
    kind: 'VirtualMachineInstance',
    metadata: { ...vm.spec.template.metadata, name: vm.metadata?.name, namespace: vm.metadata?.namespace },
    spec: vm.spec.template.spec!,
  };
}

const say = (text: string) => process.stdout.write(text + '\n');

export const demoCommand: Command = {
  name: 'demo',
  summary: 'Run the end-to-end demo on built-in example inputs.',
  description: 'Needs the project checkout (test/fixtures). When libvirt is installed, also shows libvirt\'s verdict.',
  options: {},
  async run() {
    const fixtures = join(projectRoot(), 'test', 'fixtures');
    const vmPath = join(fixtures, 'demo', 'vm.yaml');
    const vm = parseYaml(await readFile(vmPath, 'utf8')) as VirtualMachine;
    const vmi = parseVmiObject(vmiFromVm(vm), vmPath);
    const domainXml = await readFile(join(fixtures, 'kubevirt', 'domain_x86_64.xml'), 'utf8');
    const networkInfo = parseNetworkInfo(await readFile(join(fixtures, 'demo', 'network-info.json'), 'utf8'));

    say(`1. VirtualMachine ${vm.metadata?.namespace}/${vm.metadata?.name} (${vmPath}) starts a VMI.`);
    const plan = planConversion(vmi, { bindingName: DEFAULT_BINDING_PLUGIN_NAME, annotationHook: false });
    say(`2. Interfaces bound to the "${DEFAULT_BINDING_PLUGIN_NAME}" plugin: ${plan.interfaces.map((i) => `${i.name} (pod interface ${i.podInterface})`).join(', ')}`);
    const devices = vdpaDevicesFor(networkInfo, plan.interfaces.map(({ name }) => name));
    for (const { name } of plan.interfaces) say(`   network-info gives ${name} the device ${devices.get(name)?.path ?? '(none)'}`);
    const xml = domainForVmi({ vmi, domainXml, plan, containerName: 'hook-sidecar-0', devices });
    say('3. The sidecar rewrites the domain. Converted interfaces:');
    const converted = new Set(plan.interfaces.map(({ name }) => `${ALIAS_PREFIX}${name}`));
    for (const iface of childElements(childElements(parseDomainXml(xml), 'devices')[0]!, 'interface')) {
      if (converted.has(attribute(childElements(iface, 'alias')[0], 'name') ?? '')) say(buildElementXml('interface', iface));
    }
    if (!(await libvirtAvailable())) {
      say('4. libvirt is not available here (virsh -c qemu:///system failed): no libvirt verdict.');
      return EXIT_OK;
    }
    const verdict = await defineWithQemuDriver(xml);
    say(`4. libvirt's qemu driver ${verdict.accepted ? 'accepts' : 'REFUSES'} the domain: ${verdict.message}`);
    return verdict.accepted ? EXIT_OK : EXIT_ERROR;
  },
};
