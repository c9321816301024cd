import { parseVmiObject } from '../api/kubevirt.ts';
import { DEFAULT_BINDING_PLUGIN_NAME, DEFAULT_NETWORK_INFO_PATH } from '../api/names.ts';
import { parseNetworkInfo, vdpaDevicesFor } from '../api/network-info.ts';
import { domainForVmi, planConversion } from '../sidecar/domain-for-vmi.ts';
import { type Command, EXIT_OK, optionOrEnvironment, stringOption } from './command.ts';
import { readDocument, readInput } from './input.ts';

/** KubeVirt names binding-plugin sidecar containers hook-sidecar-0, -1, ... */
const DEFAULT_CONTAINER_NAME = 'hook-sidecar-0';

export const renderCommand: Command = {
  name: 'render',
  summary: 'Print the domain XML the sidecar would give libvirt for a VMI.',
  description:
    'Runs the same rewrite as the sidecar\'s OnDefineDomain, without linking devices: the interfaces bound to\n' +
    'the plugin become <interface type="vdpa"> pointing at the device links the sidecar would create.',
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
      description: `the sidecar container name the device links are reached through (default: $CONTAINER_NAME, else ${DEFAULT_CONTAINER_NAME})`,
    },
    'binding-name': {
      type: 'string',
      placeholder: 'NAME',
      description: `the network binding plugin name (default: $NETWORK_BINDING_PLUGIN_NAME, else ${DEFAULT_BINDING_PLUGIN_NAME})`,
    },
  },
  async run(values) {
    const vmiPath = stringOption(values, 'vmi');
    const vmi = parseVmiObject(await readDocument(vmiPath, 'VMI file'), vmiPath);
    const domainXml = await readInput(stringOption(values, 'domain'), 'domain XML file');
    const networkInfo = parseNetworkInfo(await readInput(stringOption(values, 'network-info'), 'network-info file'));
    const bindingName = optionOrEnvironment(values, 'binding-name', 'NETWORK_BINDING_PLUGIN_NAME', DEFAULT_BINDING_PLUGIN_NAME);
    const containerName = optionOrEnvironment(values, 'container-name', 'CONTAINER_NAME', DEFAULT_CONTAINER_NAME);
    const plan = planConversion(vmi, { bindingName, annotationHook: false });
    const devices = vdpaDevicesFor(networkInfo, plan.interfaces.map(({ name }) => name));
    const xml = domainForVmi({ vmi, domainXml, plan, containerName, devices });
    process.stdout.write(xml + '\n');
    return EXIT_OK;
  },
};
