import { InvalidInputError } from '../api/errors.ts';
import { parseVmiObject, type VirtualMachineInstance } from '../api/kubevirt.ts';
import { DEFAULT_BINDING_PLUGIN_NAME, DEFAULT_NETWORK_INFO_PATH, pluginBindingNames } from '../api/names.ts';
import { parseNetworkInfo, vdpaDevicesFor } from '../api/network-info.ts';
import { domainForVmi, planConversion } from '../sidecar/domain-for-vmi.ts';
import { type Command, EXIT_OK, stringOption } from './command.ts';
import { readDocument, readInput } from './input.ts';

/** KubeVirt names binding-plugin sidecar containers hook-sidecar-0, -1, ... */
const DEFAULT_CONTAINER_NAME = 'hook-sidecar-0';

/**
 * The binding to render: --binding-name, else the one of vduse and vduse-cloudinit that the VMI's
 * interfaces use (the webhook gives a VMI only one of them). Never the caller's environment: the
 * sidecar's variables mean nothing in a shell.
 */
function bindingToRender(vmi: VirtualMachineInstance, given: string | undefined, vmiPath: string): string {
  if (given) return given;
  const used = [...new Set((vmi.spec.domain.devices.interfaces ?? []).flatMap((iface) => (iface.binding ? [iface.binding.name] : [])))];
  const ours = used.filter((name) => (pluginBindingNames(DEFAULT_BINDING_PLUGIN_NAME) as readonly string[]).includes(name));
  if (ours.length === 1) return ours[0]!;
  const found = used.length > 0 ? `binding(s) ${used.join(', ')}` : 'no binding plugin';
  throw new InvalidInputError(
    vmiPath,
    'spec.domain.devices.interfaces[].binding.name',
    found,
    ours.length > 1 ? 'one of vduse and vduse-cloudinit, not both' : `interfaces bound to ${pluginBindingNames(DEFAULT_BINDING_PLUGIN_NAME).join(' or ')}; for another plugin name, give --binding-name`,
  );
}

export const renderCommand: Command = {
  name: 'render',
  description:
    'Runs the same rewrite as the sidecar\'s OnDefineDomain, without linking devices: the interfaces bound to\n' +
    'the plugin become <interface type="vdpa"> pointing at the device links the sidecar would create.\n' +
    'Fails when no interface would be converted. Example, from the checkout, on a domain of KubeVirt\'s\n' +
    'converter test, from KubeVirt\'s Go module (npm run kubevirt-file needs Go):\n' +
    '  npx kubevirt-vduse render --vmi deploy/examples/render/vmi.yaml --domain "$(npm run -s kubevirt-file domain_x86_64.xml)" \\\n' +
    '    --network-info deploy/examples/render/network-info.json',
  options: {
    vmi: { type: 'string', placeholder: 'FILE', required: true, description: 'the VirtualMachineInstance, JSON or YAML ("-" for stdin)' },
    domain: { type: 'string', placeholder: 'FILE', required: true, description: "the domain XML KubeVirt's converter produced" },
    'network-info': {
      type: 'string',
      placeholder: 'FILE',
      required: true,
      description: `the downward-API network-info, as the sidecar reads it from ${DEFAULT_NETWORK_INFO_PATH}`,
    },
    'container-name': {
      type: 'string',
      placeholder: 'NAME',
      default: DEFAULT_CONTAINER_NAME,
      description: 'the sidecar container the compute container reaches the device links through (on a cluster: kubectl get pod -o jsonpath=\'{.spec.containers[*].name}\')',
    },
    'binding-name': {
      type: 'string',
      placeholder: 'NAME',
      description: `the network binding plugin to render (default: the one of ${pluginBindingNames(DEFAULT_BINDING_PLUGIN_NAME).join(' and ')} that the VMI's interfaces use)`,
    },
  },
  async run(values) {
    const vmiPath = stringOption(values, 'vmi');
    const vmi = parseVmiObject(await readDocument(vmiPath, 'VMI file'), vmiPath);
    const domainXml = await readInput(stringOption(values, 'domain'), 'domain XML file');
    const networkInfo = parseNetworkInfo(await readInput(stringOption(values, 'network-info'), 'network-info file'));
    const bindingName = bindingToRender(vmi, typeof values['binding-name'] === 'string' ? values['binding-name'] : undefined, vmiPath);
    const containerName = stringOption(values, 'container-name');
    const plan = planConversion(vmi, { bindingName, annotationHook: false });
    if (plan.interfaces.length === 0) {
      throw new InvalidInputError(vmiPath, 'spec.domain.devices.interfaces', `no interface bound to ${bindingName}`, 'at least one interface to convert: nothing would change');
    }
    const devices = vdpaDevicesFor(networkInfo, plan.interfaces.map(({ name }) => name));
    const xml = domainForVmi({ vmi, domainXml, plan, containerName, devices });
    process.stdout.write(xml + '\n');
    return EXIT_OK;
  },
};
