// kubevirt-vduse mutate: the webhook's decision on a file, offline, through the same code path.
import jsonpatch from 'fast-json-patch';
import { stringify as toYaml } from 'yaml';
import { InvalidInputError } from '../api/errors.ts';
import { isObject, stringMapField } from '../api/json.ts';
import { KUBEVIRT_API_VERSION } from '../api/kubevirt.ts';
import { admit } from '../webhook/admit.ts';
import { MUTATED_KINDS } from '../webhook/mutation.ts';
import { DEFAULT_CONFIG, parseWebhookConfig } from '../webhook/config.ts';
import { StaticClusterView } from '../webhook/static-cluster.ts';
import { type Command, EXIT_DENIED, EXIT_OK, stringOption } from './command.ts';
import { readDocument, readInput } from './input.ts';

/** "k=v,k2=v2" as a map; values may be empty, keys may not. */
export function parsePairs(text: string, flag: string, separator = '='): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const item of text.split(',').map((part) => part.trim()).filter(Boolean)) {
    const at = item.indexOf(separator);
    if (at <= 0) throw new InvalidInputError('arguments', `--${flag}`, item, `key${separator}value pairs separated by commas`);
    pairs.set(item.slice(0, at), item.slice(at + 1));
  }
  return pairs;
}

const OPERATIONS = ['CREATE', 'UPDATE'];

/** A Namespace object's labels and annotations; it must be the object's own Namespace. */
async function namespaceMetadata(path: string, objectNamespace: string): Promise<{ labels: Record<string, string>; annotations: Record<string, string> }> {
  const document = await readDocument(path, 'Namespace');
  if (!isObject(document) || document.apiVersion !== 'v1' || document.kind !== 'Namespace') {
    throw new InvalidInputError(path, 'apiVersion/kind', isObject(document) ? `${String(document.apiVersion)}/${String(document.kind)}` : document, 'a v1 Namespace');
  }
  const metadata = isObject(document.metadata) ? document.metadata : {};
  if (metadata.name !== objectNamespace) throw new InvalidInputError(path, 'metadata.name', metadata.name, `${objectNamespace}, the object's namespace`);
  return { labels: stringMapField(metadata.labels, path, 'metadata.labels'), annotations: stringMapField(metadata.annotations, path, 'metadata.annotations') };
}

/**
 * The KubeVirt CR from a file: one object, or the List that `kubectl get kubevirt -A -o yaml`
 * prints, which must hold exactly one (a cluster has one KubeVirt CR).
 */
async function kubevirtDocument(path: string): Promise<unknown> {
  const document = await readDocument(path, 'KubeVirt CR');
  const isKubevirt = (object: unknown) => isObject(object) && object.apiVersion === KUBEVIRT_API_VERSION && object.kind === 'KubeVirt';
  if (isObject(document) && document.kind === 'List' && Array.isArray(document.items)) {
    const kubevirts = document.items.filter(isKubevirt);
    if (kubevirts.length !== 1 || document.items.length !== 1) {
      throw new InvalidInputError(path, 'items', `${document.items.length} item(s), ${kubevirts.length} of them KubeVirt`, 'a List with exactly one kubevirt.io/v1 KubeVirt, as kubectl get kubevirt -A -o yaml prints it');
    }
    return kubevirts[0];
  }
  if (!isKubevirt(document)) {
    throw new InvalidInputError(path, 'apiVersion/kind', isObject(document) ? `${String(document.apiVersion)}/${String(document.kind)}` : document, 'a kubevirt.io/v1 KubeVirt, or the List of one that kubectl get kubevirt -A -o yaml prints');
  }
  return document;
}

export const mutateCommand: Command = {
  name: 'mutate',
  description:
    'Runs the webhook\'s own decision on --file, with the Namespace and NetworkAttachmentDefinitions given as flags.\n' +
    'Prints the mutated object on stdout and the warnings on stderr. Exit 2 when the webhook would deny it, with the reason.',
  options: {
    file: { type: 'string', placeholder: 'FILE', required: true, description: 'the VM or VMI, JSON or YAML ("-" reads stdin)' },
    namespace: {
      type: 'string',
      placeholder: 'FILE',
      description: 'the Namespace object, JSON or YAML (kubectl get namespace NAME -o yaml): its labels and annotations, values with commas included',
    },
    'namespace-labels': { type: 'string', placeholder: 'K=V,...', default: '', description: "more Namespace labels, over --namespace's, such as vduse.kubevirt.io/policy=enabled" },
    'namespace-annotations': {
      type: 'string',
      placeholder: 'K=V,...',
      default: '',
      description: 'more Namespace annotations, over --namespace\'s, such as vduse.kubevirt.io/rx-queue-size=512 (values cannot hold commas here: use --namespace)',
    },
    instancetype: {
      type: 'string',
      placeholder: 'FILE',
      description: "the instancetype the VM names (or the ControllerRevision its revisionName names), JSON or YAML; without it, a VM with spec.instancetype is denied as in a cluster that lacks it",
    },
    preference: { type: 'string', placeholder: 'FILE', description: 'the preference the VM names, likewise' },
    kubevirt: {
      type: 'string',
      placeholder: 'FILE',
      description:
        'the KubeVirt CR, as kubectl get kubevirt -A -o yaml prints it (a List of one) or one object, to check the binding, feature gate and sidecar memory as the webhook does; without it, a warning that they were not checked',
    },
    nad: { type: 'string', placeholder: 'NS/NAME=RESOURCE,...', default: '', description: 'NetworkAttachmentDefinitions and the k8s.v1.cni.cncf.io/resourceName each has' },
    config: { type: 'string', placeholder: 'FILE', description: "the webhook's config file; built-in defaults without it" },
    operation: { type: 'string', placeholder: 'OP', default: 'CREATE', description: 'the admission operation, CREATE or UPDATE' },
    output: { type: 'string', placeholder: 'FORMAT', default: 'yaml', description: 'yaml or json' },
  },
  async run(values) {
    const path = stringOption(values, 'file');
    const operation = stringOption(values, 'operation');
    if (!OPERATIONS.includes(operation)) throw new InvalidInputError('arguments', '--operation', operation, OPERATIONS.join(' or '));
    const output = stringOption(values, 'output');
    if (output !== 'yaml' && output !== 'json') throw new InvalidInputError('arguments', '--output', output, 'yaml or json');
    const config = typeof values.config === 'string' ? parseWebhookConfig(await readInput(values.config, 'config'), values.config) : DEFAULT_CONFIG;

    const object = await readDocument(path, 'object');
    if (!isObject(object) || object.apiVersion !== KUBEVIRT_API_VERSION || !(MUTATED_KINDS as readonly unknown[]).includes(object.kind)) {
      throw new InvalidInputError(path, 'apiVersion/kind', isObject(object) ? `${String(object.apiVersion)}/${String(object.kind)}` : object, 'a kubevirt.io/v1 VirtualMachine or VirtualMachineInstance');
    }
    const metadata = isObject(object.metadata) ? object.metadata : {};
    const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : 'default';
    const given = typeof values.namespace === 'string' ? await namespaceMetadata(values.namespace, namespace) : { labels: {}, annotations: {} };
    const cluster = new StaticClusterView(
      new Map([
        [
          namespace,
          {
            labels: { ...given.labels, ...Object.fromEntries(parsePairs(stringOption(values, 'namespace-labels'), 'namespace-labels')) },
            annotations: { ...given.annotations, ...Object.fromEntries(parsePairs(stringOption(values, 'namespace-annotations'), 'namespace-annotations')) },
          },
        ],
      ]),
      new Map([...parsePairs(stringOption(values, 'nad'), 'nad')].map(([key, resourceName]) => [key.includes('/') ? key : `${namespace}/${key}`, { resourceName }])),
      new Map(
        await Promise.all(
          (['instancetype', 'preference'] as const).filter((kind) => typeof values[kind] === 'string').map(async (kind) => [kind, await readDocument(values[kind] as string, kind)] as const),
        ),
      ),
      typeof values.kubevirt === 'string' ? await kubevirtDocument(values.kubevirt) : undefined,
      'not given (mutate --kubevirt FILE)',
    );
    const decision = await admit(
      { uid: 'offline', kind: { group: 'kubevirt.io', version: 'v1', kind: object.kind as string }, operation, namespace, name: typeof metadata.name === 'string' ? metadata.name : '', dryRun: true, object },
      cluster,
      config,
    );
    for (const warning of decision.warnings) process.stderr.write(`Warning: ${warning}\n`);
    if (!decision.allowed) {
      process.stderr.write(`denied: ${decision.reason}\n`);
      return EXIT_DENIED;
    }
    const mutated = jsonpatch.applyPatch(structuredClone(object), decision.patch, true, false).newDocument;
    process.stdout.write(output === 'json' ? `${JSON.stringify(mutated, null, 2)}\n` : toYaml(mutated, { version: '1.1' }));
    process.stderr.write(`${decision.outcome}: ${decision.reason}${decision.patch.length ? ` (${decision.patch.length} patch operations)` : ''}\n`);
    return EXIT_OK;
  },
};
