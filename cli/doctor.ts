// kubevirt-vduse doctor: check a cluster for what VDUSE VMs need, one line per check with its fix.
import { InvalidInputError } from '../api/errors.ts';
import { DEFAULT_BINDING_PLUGIN_NAME, DEFAULT_VDUSE_RESOURCE_NAME } from '../api/names.ts';
import { checkCluster, readCluster } from '../cluster/doctor.ts';
import { kubeConfigFrom } from '../cluster/kubeconfig.ts';
import { type Command, EXIT_ERROR, EXIT_OK, stringOption } from './command.ts';

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'Check a cluster for what VDUSE VMs need, and print the fix for each check that fails.',
  description:
    'Checks: KubeVirt 1.8 or later; the vduse and vduse-cloudinit bindings with downwardAPI: device-info; the\n' +
    'ReservedOverheadMemlock feature gate; the sidecar memory for dedicated-CPU VMs; the webhook Service has ready\n' +
    'endpoints and its configuration a caBundle; NetworkAttachmentDefinitions name the VDUSE resource; a node has it\n' +
    'allocatable. Exit 1 when any check fails. Reads only; needs get and list on those objects.',
  options: {
    kubeconfig: { type: 'string', placeholder: 'FILE', description: 'a kubeconfig; the in-cluster service account without it' },
    'binding-name': { type: 'string', placeholder: 'NAME', default: DEFAULT_BINDING_PLUGIN_NAME, description: 'the binding plugin name the webhook uses' },
    'resource-name': { type: 'string', placeholder: 'NAME', default: DEFAULT_VDUSE_RESOURCE_NAME, description: "the VDUSE device plugin's resource" },
    'webhook-namespace': { type: 'string', placeholder: 'NS', default: 'vduse-system', description: "the webhook's Namespace" },
    output: { type: 'string', placeholder: 'FORMAT', default: 'text', description: 'text or json' },
  },
  async run(values) {
    const output = stringOption(values, 'output');
    if (output !== 'text' && output !== 'json') throw new InvalidInputError('arguments', '--output', output, 'text or json');
    const options = {
      bindingName: stringOption(values, 'binding-name'),
      resourceName: stringOption(values, 'resource-name'),
      webhookNamespace: stringOption(values, 'webhook-namespace'),
      webhookService: 'kubevirt-vduse-webhook',
      webhookConfiguration: 'kubevirt-vduse',
    };
    const results = checkCluster(await readCluster(kubeConfigFrom(typeof values.kubeconfig === 'string' ? values.kubeconfig : undefined), options), options);
    if (output === 'json') {
      process.stdout.write(`${JSON.stringify({ passed: results.every((result) => result.ok), checks: results }, null, 2)}\n`);
    } else {
      const width = Math.max(...results.map((result) => result.check.length));
      for (const result of results) {
        process.stdout.write(`${result.ok ? 'ok  ' : 'FAIL'}  ${result.check.padEnd(width)}  ${result.detail}\n`);
        if (result.fix) process.stdout.write(`      ${' '.repeat(width)}  fix: ${result.fix}\n`);
      }
      const failed = results.filter((result) => !result.ok).length;
      process.stdout.write(failed === 0 ? `all ${results.length} checks passed\n` : `${failed} of ${results.length} checks failed\n`);
    }
    return results.every((result) => result.ok) ? EXIT_OK : EXIT_ERROR;
  },
};
