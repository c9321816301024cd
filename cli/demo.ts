// The end-to-end demo on built-in inputs: KubeVirt's example VM on a VDUSE-backed network, through
// the real webhook over HTTPS, then KubeVirt's converter output for its domain through the
// sidecar's rewrite, with the network-info a VDUSE device plugin would publish. The domain comes
// from KubeVirt's Go module (cli/kubevirt-files.ts), so that half needs Go.
import jsonpatch, { type Operation } from 'fast-json-patch';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { pino } from 'pino';
import { parse as parseYaml } from 'yaml';
import type { VirtualMachine, VirtualMachineInstance } from '../api/kubevirt.ts';
import { parseVmiObject } from '../api/kubevirt.ts';
import { DEFAULT_BINDING_PLUGIN_NAME, DEFAULT_VDUSE_RESOURCE_NAME, LABEL_NAMESPACE_POLICY, NAD_RESOURCE_NAME_ANNOTATION } from '../api/names.ts';
import { parseNetworkInfo, vdpaDevicesFor } from '../api/network-info.ts';
import { ALIAS_PREFIX } from '../sidecar/domain/vdpa-interface.ts';
import { attribute, buildElementXml, childElements, parseDomainXml } from '../sidecar/domain/xml.ts';
import { domainForVmi, planConversion } from '../sidecar/domain-for-vmi.ts';
import { ADMISSION_API_VERSION, type AdmissionResponse } from '../webhook/admission-review.ts';
import { DEFAULT_CONFIG } from '../webhook/config.ts';
import { createWebhookMetrics } from '../webhook/metrics.ts';
import { MUTATE_PATH, startWebhookServer } from '../webhook/server.ts';
import { StaticClusterView } from '../webhook/static-cluster.ts';
import { kubevirtFile, KubevirtFilesUnavailableError } from './kubevirt-files.ts';
import { type Command, EXIT_ERROR, EXIT_OK } from './command.ts';
import { defineWithQemuDriver, libvirtAvailable } from './libvirt.ts';
import { createLoopbackPki } from './loopback-pki.ts';
import { projectRoot } from './project-files.ts';

const DEMO_NAD = 'ovs-dpdk-vduse';

/** What the API server does on kubectl create: one AdmissionReview to the webhook, over HTTPS. */
function postReview(port: number, ca: Buffer, review: unknown): Promise<AdmissionResponse> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(review);
    const outgoing = request({ host: '127.0.0.1', port, path: MUTATE_PATH, method: 'POST', ca, headers: { 'content-type': 'application/json' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        try {
          const text = Buffer.concat(chunks).toString();
          if (response.statusCode !== 200) throw new Error(`webhook answered HTTP ${String(response.statusCode)}: ${text}`);
          resolve((JSON.parse(text) as { response: AdmissionResponse }).response);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** The example VM through the real webhook server: a Namespace with the policy label, a VDUSE NAD. */
async function admitThroughWebhook(vm: VirtualMachine): Promise<VirtualMachine> {
  const namespace = vm.metadata?.namespace ?? 'default';
  const pki = createLoopbackPki();
  const cluster = new StaticClusterView(
    new Map([[namespace, { labels: { [LABEL_NAMESPACE_POLICY]: 'enabled' }, annotations: {} }]]),
    new Map([[`${namespace}/${DEMO_NAD}`, { resourceName: DEFAULT_VDUSE_RESOURCE_NAME }]]),
  );
  const server = await startWebhookServer({
    port: 0,
    healthPort: 0,
    host: '127.0.0.1',
    tls: pki.issue('demo-webhook'),
    cluster,
    config: () => DEFAULT_CONFIG,
    log: pino({ level: 'silent' }),
    metrics: createWebhookMetrics(),
  });
  try {
    say(`1. The webhook serves HTTPS on 127.0.0.1:${server.port}${MUTATE_PATH}. Namespace ${namespace} has ${LABEL_NAMESPACE_POLICY}=enabled;`);
    say(`   NetworkAttachmentDefinition ${namespace}/${DEMO_NAD} has ${NAD_RESOURCE_NAME_ANNOTATION}: ${DEFAULT_VDUSE_RESOURCE_NAME}.`);
    const answer = await postReview(server.port, pki.ca, {
      apiVersion: ADMISSION_API_VERSION,
      kind: 'AdmissionReview',
      request: { uid: randomUUID(), kind: { group: 'kubevirt.io', version: 'v1', kind: 'VirtualMachine' }, operation: 'CREATE', namespace, name: vm.metadata?.name, object: vm },
    });
    if (!answer.allowed) throw new Error(`the webhook denied the VM: ${answer.status?.message ?? ''}`);
    const patch = answer.patch ? (JSON.parse(Buffer.from(answer.patch, 'base64').toString()) as Operation[]) : [];
    say(`   kubectl create: the webhook admits it with ${patch.length} patch operations.`);
    for (const warning of answer.warnings ?? []) say(`   Warning: ${warning}`);
    return jsonpatch.applyPatch(structuredClone(vm), patch, true, false).newDocument;
  } finally {
    await server.close();
  }
}

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

/** The domain KubeVirt's converter makes, from KubeVirt's Go module; undefined, said why, without Go. */
function converterDomain(): string | undefined {
  try {
    return kubevirtFile('domain_x86_64.xml');
  } catch (error) {
    if (!(error instanceof KubevirtFilesUnavailableError)) throw error;
    say(`2. The sidecar's half is not shown: it rewrites the domain KubeVirt's converter makes, and here ${error.message}.`);
    return undefined;
  }
}

export const demoCommand: Command = {
  name: 'demo',
  description:
    'Needs the project checkout (test/fixtures) and openssl (for a throwaway serving certificate).\n' +
    "The sidecar's half needs Go, which finds the domain KubeVirt's converter makes in KubeVirt's Go module.\n" +
    "When libvirt is installed, also shows libvirt's verdict on the domain.",
  options: {},
  async run() {
    const fixtures = join(projectRoot(), 'test', 'fixtures');
    const vmPath = join(fixtures, 'demo', 'vm.yaml');
    const written = parseYaml(await readFile(vmPath, 'utf8')) as VirtualMachine;
    say(`0. VirtualMachine ${written.metadata?.namespace}/${written.metadata?.name} (${vmPath}), written with no VDUSE word in it.`);
    const vm = await admitThroughWebhook(written);
    const template = vm.spec.template;
    const annotations = Object.entries(template.metadata?.annotations ?? {}).filter(([key]) => key.startsWith('vduse.kubevirt.io/'));
    say(`   Template annotations: ${annotations.map(([key, value]) => `${key}=${value}`).join(', ')}`);
    say(`   Memory: ${JSON.stringify(template.spec?.domain.memory)}`);
    const vmi = parseVmiObject(vmiFromVm(vm), vmPath);
    const domainPath = converterDomain();
    if (domainPath === undefined) return EXIT_OK;
    const domainXml = await readFile(domainPath, 'utf8');
    const networkInfo = parseNetworkInfo(await readFile(join(fixtures, 'demo', 'network-info.json'), 'utf8'));

    say(`2. The VM starts: its VMI carries the mutated template. For its domain, the demo takes one that KubeVirt's converter makes, in KubeVirt's converter test (${domainPath}).`);
    const plan = planConversion(vmi, { bindingName: DEFAULT_BINDING_PLUGIN_NAME, annotationHook: false });
    say(`3. Interfaces bound to the "${DEFAULT_BINDING_PLUGIN_NAME}" plugin: ${plan.interfaces.map((i) => `${i.name} (pod interface ${i.podInterface})`).join(', ')}`);
    const devices = vdpaDevicesFor(networkInfo, plan.interfaces.map(({ name }) => name));
    for (const { name } of plan.interfaces) say(`   network-info gives ${name} the device ${devices.get(name)?.path ?? '(none)'}`);
    const xml = domainForVmi({ vmi, domainXml, plan, containerName: 'hook-sidecar-0', devices });
    say('4. The sidecar rewrites the domain. Converted interfaces:');
    const converted = new Set(plan.interfaces.map(({ name }) => `${ALIAS_PREFIX}${name}`));
    for (const iface of childElements(childElements(parseDomainXml(xml), 'devices')[0]!, 'interface')) {
      if (converted.has(attribute(childElements(iface, 'alias')[0], 'name') ?? '')) say(buildElementXml('interface', iface));
    }
    if (!(await libvirtAvailable())) {
      say('5. libvirt is not available here (virsh -c qemu:///system failed): no libvirt verdict.');
      return EXIT_OK;
    }
    const verdict = await defineWithQemuDriver(xml);
    say(`5. libvirt's qemu driver ${verdict.accepted ? 'accepts' : 'REFUSES'} the domain: ${verdict.message}`);
    return verdict.accepted ? EXIT_OK : EXIT_ERROR;
  },
};
