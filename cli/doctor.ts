// kubevirt-vduse doctor: check a cluster for what VDUSE VMs need, one line per check with its fix.
import { InvalidInputError } from '../api/errors.ts';
import { DEFAULT_BINDING_PLUGIN_NAME, DEFAULT_VDUSE_RESOURCE_NAME } from '../api/names.ts';
import { checkCluster, readCluster } from '../cluster/doctor.ts';
import { ClusterClients } from '../cluster/clients.ts';
import { kubeConfigFrom } from '../cluster/kubeconfig.ts';
import { type Command, EXIT_ERROR, EXIT_OK, stringOption } from './command.ts';

export const doctorCommand: Command = {
  name: 'doctor',
  description:
    'Checks: the API server answers (when it does not, that is the one line printed, with the host and the cause);\n' +
    'KubeVirt 1.8 or later; the vduse and vduse-cloudinit bindings with downwardAPI: device-info (on KubeVirt 1.8,\n' +
    'vduse-cloudinit on the sidecar-cloudinit image); the ReservedOverheadMemlock feature gate; the sidecar memory\n' +
    '(every hook sidecar gets it, and what that costs); live migration (a warning on KubeVirt 1.8, which cannot\n' +
    'migrate VDUSE VMs); on KubeVirt 1.9, the device request (a warning while ExternalNetResourceInjection is on) and\n' +
    "the plugin pipeline (a failure while Plugins would drop the rings' sizes); the webhook Service has ready\n" +
    'endpoints and its configuration a caBundle; the webhook answers: a probe VM sent through the API server as a dry\n' +
    'run comes back converted; no Namespace has a policy label the webhook does not know;\n' +
    'NetworkAttachmentDefinitions name the VDUSE resource (a warning when none does yet); a node has it allocatable.\n' +
    'Each line is ok, warn (works, with the limit it names) or FAIL, with the fix. Exit 1 when any check fails.\n' +
    'Reads, and creates nothing: get and list on those objects, and create on virtualmachines for the dry run\n' +
    '(in Namespace default, or else one with vduse.kubevirt.io/policy=enabled).',
  options: {
    kubeconfig: { type: 'string', placeholder: 'FILE', description: "a kubeconfig; without it, as kubectl: $KUBECONFIG, else ~/.kube/config, else the pod's service account" },
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
    const results = checkCluster(await readCluster(new ClusterClients(kubeConfigFrom(typeof values.kubeconfig === 'string' ? values.kubeconfig : undefined)), options), options);
    if (output === 'json') {
      process.stdout.write(`${JSON.stringify({ passed: results.every((result) => result.ok), checks: results }, null, 2)}\n`);
    } else {
      const width = Math.max(...results.map((result) => result.check.length));
      const label = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;
      for (const result of results) {
        process.stdout.write(`${label[result.status]}  ${result.check.padEnd(width)}  ${result.detail}\n`);
        if (result.fix) process.stdout.write(`      ${' '.repeat(width)}  ${result.status === 'warn' ? 'to do' : 'fix'}: ${result.fix}\n`);
      }
      const failed = results.filter((result) => !result.ok).length;
      const warned = results.filter((result) => result.status === 'warn').length;
      const warnings = warned > 0 ? ` (${warned} with a warning)` : '';
      process.stdout.write(failed === 0 ? `all ${results.length} checks passed${warnings}\n` : `${failed} of ${results.length} checks failed${warnings}\n`);
    }
    return results.every((result) => result.ok) ? EXIT_OK : EXIT_ERROR;
  },
};
