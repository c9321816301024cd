// OpenShift Virtualization, proven with HCO's own code (test/cluster/hco.ts): the KubeVirt CR HCO
// writes from the HyperConverged CR, before and after the project's HCO steps (deploy/kubevirt/hco/,
// as deploy/kubevirt/README.md and docs/install.md give them), on HCO's default HyperConverged CR and
// on harder ones, for each HCO branch whose source is in the build cache. On the real control
// plane, for the branch that ships the rig's KubeVirt: the HyperConverged CRD served in both
// versions through HCO's conversion webhook, the docs' commands run as written, HCO's KubeVirt CR
// applied as HCO applies it (its spec replaced whole), then doctor and the VM flows, compared with
// the same flows on the rig's own registration (plain KubeVirt). Played: HCO's operator, which does
// not run here; the tests do its one step that matters, the KubeVirt CR's spec.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SIDECAR_MEMORY_LIMIT } from '../../api/sidecar-resources.ts';
import { parseQuantity, wholeBytes } from '../../api/quantity.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { KUBECONFIG, readState } from './cluster.ts';
import { createExampleVm, createVm, createWithVirtctl, json, kubectl, launched, type LooseVm, namespace as makeNamespace, playPodTermination, type Pod, sidecars, until, type Vmi } from './helpers.ts';
import { convertedTo, defaultHyperConverged, HCO_NAMESPACE, hcoExport, hcoRefFor, hcoRelease, type HcoRelease, hcoSource, HYPERCONVERGED, installHyperConvergedCrd, kubevirtFor, liveHyperConverged, type Loose, patchKubevirt, runDocsCommands, storageVersion } from './hco.ts';
import { launch, networkInfoFor } from './launcher.ts';
import { HCO_REFS } from './sources.ts';

/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-return --
   Loose on purpose: the tests read what HCO, the API server and KubeVirt made. */

const status = inject('clusterStatus');
const BUILD_TIMEOUT = 20 * 60_000;
const GATE = 'ReservedOverheadMemlock';
const JSONPATCH = 'kubevirt.kubevirt.io/jsonpatch';
const IMAGE = 'REGISTRY/kubevirt-vduse/sidecar:0.1.0';
/** The merge patch of docs/install.md (Uninstall, On OpenShift) that takes both bindings out. */
const REMOVE_BINDINGS = { spec: { networking: { networkBinding: { vduse: null, 'vduse-cloudinit': null } } } };

const doctor = () => spawnSync(process.execPath, [projectFile('cli', 'main.ts'), 'doctor', '--kubeconfig', KUBECONFIG, '--output', 'json'], { encoding: 'utf8' });
/** One of deploy/kubevirt/hco's programs: the patch it prints. */
function jq(program: string, input: object | undefined, args: string[] = []): object {
  const result = spawnSync('jq', ['-c', ...(input ? [] : ['-n']), '-f', projectFile('deploy', 'kubevirt', 'hco', program), ...args], { input: input ? JSON.stringify(input) : undefined, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`jq -f deploy/kubevirt/hco/${program}: ${result.stderr}`);
  return JSON.parse(result.stdout) as object;
}

/** A HyperConverged CR that is harder than the default: what it adds to the v1 CR. */
interface Shape {
  title: string;
  change: (hc: Loose) => void;
  /** Checks of HCO's KubeVirt CR after the steps, beyond what every shape gets. */
  check?: (before: Loose, after: Loose) => void;
}
const supportContainerResources = (kubevirt: Loose): Loose[] => kubevirt.spec.configuration.supportContainerResources ?? [];
const sidecarLimit = (kubevirt: Loose) => supportContainerResources(kubevirt).find((entry) => entry.type === 'sidecar' && entry.resources?.limits?.memory)?.resources.limits.memory as string | undefined;
const bytes = (quantity: string) => wholeBytes(parseQuantity(quantity)!);

const SHAPES: Shape[] = [
  { title: "HCO's default HyperConverged CR", change: () => undefined },
  {
    title: 'a jsonpatch annotation already there: another operation, another container, a smaller sidecar limit',
    change: (hc) =>
      (hc.metadata.annotations = {
        [JSONPATCH]: JSON.stringify([
          { op: 'add', path: '/spec/configuration/cpuModel', value: 'Haswell-noTSX' },
          { op: 'add', path: '/spec/configuration/supportContainerResources', value: [{ type: 'virtLauncher', resources: { limits: { memory: '1Gi' } } }, { type: 'sidecar', resources: { limits: { memory: '64Mi' } } }] },
        ]),
      }),
    check: (_before, after) => {
      expect(after.spec.configuration.cpuModel).toBe('Haswell-noTSX');
      expect(supportContainerResources(after)).toEqual([{ type: 'virtLauncher', resources: { limits: { memory: '1Gi' } } }, { type: 'sidecar', resources: { limits: { memory: SIDECAR_MEMORY_LIMIT } } }]);
    },
  },
  {
    title: 'other network bindings: passt registered by hand beside HCO\'s own l2bridge',
    change: (hc) => (hc.spec.networking = { ...hc.spec.networking, networkBinding: { passt: { sidecarImage: 'quay.io/kubevirt/network-passt-binding:v1.8.4', networkAttachmentDefinition: 'default/netbindingpasst', migration: {} } } }),
    check: (before, after) => {
      for (const name of ['passt', 'l2bridge']) expect(after.spec.configuration.network.binding[name], name).toEqual(before.spec.configuration.network.binding[name]);
    },
  },
  {
    title: 'supportContainerResources already set, a larger sidecar limit, and the gate already on',
    change: (hc) =>
      (hc.metadata.annotations = {
        [JSONPATCH]: JSON.stringify([
          { op: 'add', path: '/spec/configuration/developerConfiguration/featureGates/-', value: GATE },
          { op: 'add', path: '/spec/configuration/supportContainerResources', value: [{ type: 'sidecar', resources: { limits: { memory: '256Mi' } } }] },
        ]),
      }),
    check: (before, after) => expect(after.spec.configuration).toEqual({ ...before.spec.configuration, network: after.spec.configuration.network }),
  },
];

/**
 * What the steps must do to HCO's KubeVirt CR, and nothing else: the two bindings, the gate once,
 * a sidecar limit of at least the shipped one, every other entry kept.
 */
function expectOnlyOurChanges(before: Loose, after: Loose) {
  const { network, developerConfiguration, supportContainerResources: resources, ...rest } = after.spec.configuration;
  const { network: networkBefore, developerConfiguration: developerBefore, supportContainerResources: resourcesBefore, ...restBefore } = before.spec.configuration;
  expect(rest).toEqual(restBefore);
  expect({ ...after.spec, configuration: undefined }).toEqual({ ...before.spec, configuration: undefined });
  expect(Object.keys(network.binding).sort()).toEqual([...Object.keys(networkBefore.binding), 'vduse', 'vduse-cloudinit'].sort());
  expect(network.binding.vduse).toEqual({ sidecarImage: IMAGE, downwardAPI: 'device-info', migration: {} });
  expect({ ...developerConfiguration, featureGates: undefined }).toEqual({ ...developerBefore, featureGates: undefined });
  expect(developerConfiguration.featureGates.filter((gate: string) => gate !== GATE)).toEqual(developerBefore.featureGates.filter((gate: string) => gate !== GATE));
  expect(developerConfiguration.featureGates.filter((gate: string) => gate === GATE)).toEqual([GATE]);
  expect(bytes(sidecarLimit(after)!)).toBeGreaterThanOrEqual(bytes(SIDECAR_MEMORY_LIMIT));
  for (const entry of (resourcesBefore ?? []) as Loose[]) if (entry.type !== 'sidecar') expect(resources).toContainEqual(entry);
}

// On each HCO branch whose export is in the cache, without a cluster: the steps' patches applied by
// kubectl (--local), HCO's KubeVirt CR from its own code before, between and after.
for (const ref of Object.values(HCO_REFS)) {
  const exported = hcoExport(ref);
  if ('missing' in exported) {
    console.warn(`\n*** SKIPPING OpenShift Virtualization on HCO ${ref}: ${exported.missing} ***\n`);
    describe.skip(`HCO ${ref}`, () => undefined);
    continue;
  }
  describe(`HCO ${ref}'s own code: the KubeVirt CR it writes, before and after the project's steps`, () => {
    let release: HcoRelease;
    beforeAll(async () => void (release = await hcoRelease(ref)), BUILD_TIMEOUT);

    const patchedLocally = (hc: Loose, type: 'merge' | 'json', patch: object): Loose => {
      const result = spawnSync('kubectl', ['patch', '--local', '-f', '-', '--type', type, '-p', JSON.stringify(patch), '-o', 'json'], { input: JSON.stringify(hc), encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`kubectl patch --local --type ${type}: ${result.stderr}`);
      return JSON.parse(result.stdout) as Loose;
    };

    it("HCO writes neither the gate nor supportContainerResources itself, and refuses an annotation that does not apply, with HCO's own message", () => {
      const kubevirt = kubevirtFor(release, defaultHyperConverged(release));
      expect(kubevirt.spec.configuration.developerConfiguration.featureGates).not.toContain(GATE);
      expect(kubevirt.spec.configuration.supportContainerResources).toBeUndefined();
      expect(Object.keys(kubevirt.spec.configuration.network.binding)).toEqual(['l2bridge']);
      const broken = { ...defaultHyperConverged(release), metadata: { name: HYPERCONVERGED, annotations: { [JSONPATCH]: '[{"op":"add","path":"/spec/configuration/supportContainerResources/-","value":{}}]' } } };
      expect(() => kubevirtFor(release, broken)).toThrow(/HCO refuses the HyperConverged CR: invalid jsonPatch in the kubevirt\.kubevirt\.io\/jsonpatch annotation/);
    });

    it.each(SHAPES)('$title: the steps add exactly the bindings, the gate and the sidecar memory, and the uninstall takes back exactly that', ({ change, check }) => {
      const before = convertedTo(release, 'v1', defaultHyperConverged(release));
      change(before);
      // Each program reads the CR as the step before left it, as the docs' commands do.
      const bound = patchedLocally(before, 'merge', jq('networkbinding.jq', undefined, ['--arg', 'image', IMAGE]));
      const installed = patchedLocally(bound, 'json', jq('register-jsonpatch.jq', bound));
      const kubevirtBefore = kubevirtFor(release, before);
      const kubevirtAfter = kubevirtFor(release, installed);
      expectOnlyOurChanges(kubevirtBefore, kubevirtAfter);
      check?.(kubevirtBefore, kubevirtAfter);
      const unregistered = patchedLocally(installed, 'json', jq('unregister-jsonpatch.jq', installed));
      const uninstalled = patchedLocally(unregistered, 'merge', REMOVE_BINDINGS);
      expect(uninstalled.metadata.annotations).toEqual(before.metadata.annotations);
      expect(kubevirtFor(release, uninstalled)).toEqual(kubevirtBefore);
    });

    it('the docs show the condition HCO raises for the annotation as HCO\'s source writes it', () => {
      const controller = hcoSource(release, 'controllers', 'hyperconverged', 'hyperconverged_controller.go');
      const reason = /taintedConfigurationReason\s*=\s*"([^"]+)"/.exec(controller)![1]!;
      const message = /taintedConfigurationMessage\s*=\s*"([^"]+)"/.exec(controller)![1]!;
      const readme = readFileSync(projectFile('deploy', 'kubevirt', 'README.md'), 'utf8');
      expect(readme).toContain(`reason: ${reason}`);
      expect(readme).toContain(`message: ${message}`);
      expect(readme).toContain(`type: ${/ConditionTaintedConfiguration\s*=\s*"([^"]+)"/.exec(hcoSource(release, 'api', 'v1', 'hyperconverged_types.go'))![1]!}`);
      // Raised while the annotation holds at least one operation (detectTaintedConfiguration).
      expect(controller).toMatch(/if NumOfChanges = getNumOfChangesJSONPatch\(jsonPatch\); NumOfChanges > 0 \{\s*tainted = true/);
    });
  });
}

/** The Namespaces this suite made, to take away at its end. */
const made = new Set<string>();
const namespace = (...args: Parameters<typeof makeNamespace>) => {
  made.add(args[0]);
  return makeNamespace(...args);
};
/**
 * The suite's Namespaces deleted, and kubelet's part of their launcher Pods' deletion played, so
 * that they hold none of the Node's devices for the suites after this one.
 */
async function removeNamespaces(): Promise<void> {
  for (const ns of made) kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']);
  await until('the launcher Pods of the suite\'s Namespaces to be deleted', () => {
    for (const ns of made) playPodTermination(ns, 'kubevirt.io=virt-launcher');
    return [...made].every((ns) => json<{ items: unknown[] }>(['get', 'pods', '-n', ns]).items.length === 0) ? true : undefined;
  }, 60_000);
  made.clear();
}

// The VM flows of the cluster suite, each in a Namespace of its own prefix: what the webhook, virt-api
// and virt-controller make of them, to compare HCO's KubeVirt CR with the rig's own registration.
interface Flow {
  title: string;
  /** On a VDUSE NetworkAttachmentDefinition (the example VM's dataplane). */
  nad: boolean;
  run: (prefix: string) => Promise<Rendered>;
}
/** What a flow admits and renders: the warnings, the VMI's VDUSE part and the launcher Pod's. */
interface Rendered {
  warnings: string;
  vmi: unknown;
  sidecars: unknown;
  compute: unknown;
  deviceInfo: unknown;
}
/** The binding whose sidecar image this is, in the KubeVirt CR as it is now. */
const registeredFor = (image: string) =>
  Object.entries(json<Loose>(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt']).spec.configuration.network.binding as Record<string, { sidecarImage?: string }>)
    .filter(([, binding]) => binding.sidecarImage === image)
    .map(([name]) => `the ${name} binding's image`)
    .join(', ') || `${image}, registered for no binding`;
function rendered(warnings: string, vmi: Vmi & { spec: { networks?: unknown } }, pod: Pod): Rendered {
  return {
    warnings: warnings.trim(),
    vmi: {
      interfaces: vmi.spec.domain.devices.interfaces,
      networks: vmi.spec.networks,
      memory: vmi.spec.domain.memory,
      annotations: Object.fromEntries(Object.entries(vmi.metadata.annotations ?? {}).filter(([key]) => key.startsWith('vduse.kubevirt.io/'))),
    },
    // The image by the binding it is registered for: the docs' steps register REGISTRY/..., the rig its own.
    sidecars: sidecars(pod).map(({ name, image, env, resources }) => ({ name, image: registeredFor(image), env, resources })),
    compute: pod.spec.containers.find((container) => container.name === 'compute')!.resources,
    deviceInfo: pod.spec.volumes.find((volume) => volume.downwardAPI?.items.some((item) => item.path === 'network-info'))?.downwardAPI,
  };
}
const exampleFlow = (title: string, name: string, change: (vm: LooseVm) => void = () => undefined): Flow => ({
  title,
  nad: true,
  run: async (prefix) => {
    const ns = namespace(prefix, { 'vduse.kubevirt.io/policy': 'enabled' });
    const { warnings } = createVm(ns, (vm) => {
      vm.metadata.name = name;
      change(vm);
    });
    const { vmi, pod } = await launched(ns, name);
    return rendered(warnings, vmi, pod);
  },
});
const FLOWS: Flow[] = [
  exampleFlow('a VM on a VDUSE Multus network', 'vm-multus'),
  exampleFlow('cloud-init with coalescing (vduse-cloudinit)', 'vm-coalesced', (vm) => (vm.metadata.annotations = { 'vduse.kubevirt.io/coalesce': 'adaptive-rx' })),
  exampleFlow('Guaranteed QoS from limits alone', 'vm-limits', (vm) => (vm.spec.template.spec.domain.resources = { limits: { cpu: '2', memory: '3Gi' } })),
  exampleFlow('a VM that opts out', 'vm-opted-out', (vm) => (vm.metadata.labels = { 'vduse.kubevirt.io/enabled': 'false' })),
  {
    title: 'virtctl create vm with the dedicated-CPU instancetype n1.medium, on a VDUSE pod network',
    nad: false,
    run: async (prefix) => {
      const ns = namespace(`${prefix}-n1`, { 'vduse.kubevirt.io/policy': 'enabled' }, { 'vduse.kubevirt.io/pod-network': 'vduse' });
      const { warnings } = createWithVirtctl(ns, 'vm-n1', ['--instancetype', 'n1.medium', '--preference', 'fedora']);
      const { vmi, pod } = await launched(ns, 'vm-n1');
      return rendered(warnings, vmi, pod);
    },
  },
];

/** HCO's KubeVirt CR asks virt-controller for KubeVirt's seccomp profile (seccompConfiguration); the rig's own does not. */
const rendersWithHco = (pod: Pod & { spec: { securityContext?: { seccompProfile?: { type: string } } } }) => pod.spec.securityContext?.seccompProfile?.type === 'Localhost';
let probes = 0;
/** Until virt-controller renders launcher Pods from the KubeVirt CR it was given (a probe VM in its own Namespace). */
async function untilRenderedWith(which: 'hco' | 'rig', prefix: string): Promise<void> {
  const ns = namespace(`${prefix}-probe`);
  for (const started = Date.now(); Date.now() - started < 60_000; ) {
    const name = `probe-${String(++probes)}`;
    createExampleVm(ns, (vm) => (vm.metadata.name = name));
    if (rendersWithHco((await launched(ns, name)).pod) === (which === 'hco')) return;
  }
  throw new Error(`virt-controller did not render with the ${which === 'hco' ? "HCO's" : "rig's"} KubeVirt CR within 60 s`);
}

// On the real control plane, for the HCO branch that ships the rig's KubeVirt.
const version = status === 'ready' ? readState()!.kubevirt : undefined;
const liveRef = version === undefined ? undefined : hcoRefFor(version);
const liveExport = liveRef === undefined ? undefined : hcoExport(liveRef);
if (liveRef !== undefined && liveExport !== undefined && !('missing' in liveExport)) {
  describe(`OpenShift Virtualization on the real control plane: HCO ${liveRef} on KubeVirt v${version!}`, () => {
    let release: HcoRelease;
    let uninstallCrd: () => void;
    let rig: Loose;
    let before: Loose;
    const plain: Record<string, Rendered> = {};
    let deviceRequestDiffers = false;
    /** HCO's reconcile of the KubeVirt CR (UpdateCR): its spec replaced by NewKubeVirt's, its labels merged in; returns the CR HCO wrote. */
    const reconcile = async (hc: Loose = liveHyperConverged()) => {
      const kubevirt = kubevirtFor(release, hc);
      await patchKubevirt([
        { op: 'replace', path: '/spec', value: kubevirt.spec },
        { op: 'add', path: '/metadata/labels', value: { ...rig.metadata.labels, ...kubevirt.metadata.labels } },
        // HCO's CR carries no registration record of ours.
        { op: 'add', path: '/metadata/annotations', value: {} },
      ]);
      return kubevirt;
    };
    const doctorChecks = () => {
      const result = doctor();
      return { passed: result.status === 0, checks: (JSON.parse(result.stdout) as { checks: { check: string; status: string; detail: string; fix?: string }[] }).checks };
    };

    beforeAll(async () => {
      release = await hcoRelease(liveRef);
      uninstallCrd = await installHyperConvergedCrd(release);
      kubectl(['create', '-f', '-'], JSON.stringify(defaultHyperConverged(release)));
      before = liveHyperConverged();
      rig = json<Loose>(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt']);
      for (const flow of FLOWS) plain[flow.title] = await flow.run('ocp-plain');
    }, BUILD_TIMEOUT);

    afterAll(async () => {
      await patchKubevirt([
        { op: 'replace', path: '/spec', value: rig.spec },
        { op: 'add', path: '/metadata/labels', value: rig.metadata.labels ?? {} },
        { op: 'add', path: '/metadata/annotations', value: rig.metadata.annotations ?? {} },
      ]);
      uninstallCrd();
      // The next suites expect the rig's own registration.
      await untilRenderedWith('rig', 'ocp-restored');
      await removeNamespaces();
    }, 180_000);

    it("the API server serves HCO's default HyperConverged CR in v1 and v1beta1, as HCO's own conversion gives them", () => {
      const v1 = liveHyperConverged();
      const v1beta1 = json<Loose>(['get', 'hyperconvergeds.v1beta1.hco.kubevirt.io', HYPERCONVERGED, '-n', HCO_NAMESPACE]);
      expect(v1.apiVersion).toBe('hco.kubevirt.io/v1');
      expect(v1beta1.apiVersion).toBe('hco.kubevirt.io/v1beta1');
      // The API server asked the webhook for each version it does not store.
      const [stored, served] = storageVersion(release) === 'v1' ? [v1, v1beta1] : [v1beta1, v1];
      expect(convertedTo(release, served === v1 ? 'v1' : 'v1beta1', stored).spec).toEqual(served.spec);
      expect(kubevirtFor(release, v1)).toEqual(kubevirtFor(release, v1beta1));
    });

    it("deploy/kubevirt/README.md's HCO steps, run as written: HCO's KubeVirt CR gains the bindings, the gate and the sidecar memory, and nothing else", () => {
      const commands = runDocsCommands('deploy/kubevirt/README.md', '## OpenShift Virtualization');
      expect(commands.join('\n')).toContain('deploy/kubevirt/hco/register-jsonpatch.jq');
      const after = liveHyperConverged();
      expectOnlyOurChanges(kubevirtFor(release, before), kubevirtFor(release, after));
      // What the docs show the user, read back from the API server.
      expect(Object.keys(after.metadata.annotations).sort()).toEqual([JSONPATCH, 'vduse.kubevirt.io/registration']);
    });

    it("HCO's KubeVirt CR on the real control plane: doctor passes on it, and asks for VDUSE devices in launcher Pods on both versions", async () => {
      const kubevirt = await reconcile();
      await untilRenderedWith('hco', 'ocp-hco');
      const { passed, checks } = doctorChecks();
      expect(passed, JSON.stringify(checks)).toBe(true);
      expect(checks.filter((check) => check.status === 'fail')).toEqual([]);
      expect(checks.find((check) => check.check === 'device requests')?.status).toBe('ok');
      const disabled = (cr: Loose) => ((cr.spec.configuration?.developerConfiguration?.disabledFeatureGates ?? []) as string[]).includes('ExternalNetResourceInjection');
      deviceRequestDiffers = version!.startsWith('1.9') && disabled(kubevirt) && !disabled(rig);
      expect(deviceRequestDiffers).toBe(version!.startsWith('1.9'));
    });

    it.each(FLOWS)('$title: admitted and rendered as on the rig\'s own registration', async (flow) => {
      const expected = structuredClone(plain[flow.title]!) as Rendered & { compute: { requests: Record<string, string>; limits: Record<string, string> } };
      // On 1.9, where the Beta gate ExternalNetResourceInjection is on unless disabled, virt-controller
      // asks for the NAD's device only when it is disabled (pkg/virt-controller/services/template.go):
      // HCO's KubeVirt CR disables it, the rig's does not.
      if (flow.nad && deviceRequestDiffers) for (const side of [expected.compute.requests, expected.compute.limits]) side['vduse.io/vduse'] = '1';
      expect(await flow.run('ocp-hco')).toEqual(expected);
    });

    it.each([['a VM on a VDUSE Multus network', '', 'vm-multus'], ['n1.medium (dedicated CPUs, hugepages)', '-n1', 'vm-n1']])(
      "%s: KubeVirt's converter and hook manager, given HCO's KubeVirt CR, hand libvirt the same vdpa interface and QEMU the same memlock limit",
      async (_title, suffix, name) => {
        const outcome = async (ns: string, kubevirt: object) => {
          const { vmi, pod } = await launched(ns, name);
          const started = await launch({ vmi, pod, kubevirt, kubevirtBin: readState()!.bins.kubevirt, networkInfo: networkInfoFor(vmi) });
          try {
            expect(started.result.error ?? started.result.panic, started.logs().slice(-3000)).toBeUndefined();
            return { interfaces: [...started.result.domain!.matchAll(/<interface type="vdpa">[\s\S]*?<\/interface>/g)].map((match) => match[0]), memlockBytes: started.result.memlockBytes };
          } finally {
            await started.stop();
          }
        };
        const withHco = await outcome(`ocp-hco${suffix}`, json(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt']));
        expect(withHco.interfaces).toHaveLength(1);
        expect(withHco.interfaces[0]).toContain('rx_queue_size="1024"');
        expect(withHco).toEqual(await outcome(`ocp-plain${suffix}`, rig));
      },
    );

    it('without the Alpha gate (the bindings alone, no annotation): no VDUSE VM can start', async () => {
      const live = liveHyperConverged();
      const annotations = Object.fromEntries(Object.entries(live.metadata.annotations as Record<string, string>).filter(([key]) => key !== JSONPATCH));
      const kubevirt = await reconcile({ ...live, metadata: { ...live.metadata, annotations } });
      expect(kubevirt.spec.configuration.developerConfiguration.featureGates).not.toContain(GATE);
      try {
        // HCO labels the KubeVirt CR it writes, so the fix goes where HCO takes it from.
        expect(doctorChecks().checks.find((check) => check.check === 'feature gate')).toMatchObject({ status: 'fail', fix: expect.stringContaining('deploy/kubevirt/hco/register-jsonpatch.jq on the HyperConverged CR') });
        // Where the webhook looks, it refuses the VM with the reason.
        const ns = namespace('ocp-nogate', { 'vduse.kubevirt.io/policy': 'enabled' });
        const refused = await until('the webhook to see the KubeVirt CR without the gate', () => {
          const result = createExampleVm(ns, (vm) => (vm.metadata.name = 'vm-nogate'), ['--dry-run=server']);
          return result.status === 0 ? undefined : result.stderr;
        });
        expect(refused).toMatch(/denied the request: VirtualMachine ocp-nogate\/vm-nogate cannot run on VDUSE here yet: .*lacks the ReservedOverheadMemlock feature gate, which reservedOverhead.memLock needs; add it with deploy\/kubevirt\/hco\/register-jsonpatch.jq on the HyperConverged CR/);
        // virt-api refuses the locked-memory request itself.
        const plainNs = namespace('ocp-nogate-plain');
        const memLock = createExampleVm(plainNs, (vm) => {
          vm.metadata.name = 'vm-memlock';
          vm.spec.template.spec.domain.memory = { guest: '4Gi', reservedOverhead: { memLock: 'Required' } };
        }, ['--dry-run=server']);
        expect(memLock.stderr).toContain('Reserved overhead memlock feature gate is not enabled');
        // Written by hand where the webhook does not look: admitted, with its sidecar, but no memLock:
        // virt-handler raises QEMU's locked-memory limit only for VMIs that ask (pkg/hypervisor/kvm/runtime.go AdjustResources).
        createExampleVm(plainNs, (vm) => {
          vm.metadata.name = 'vm-by-hand';
          vm.spec.template.spec.domain.devices.interfaces.find((iface: Loose) => iface.name === 'dataplane').binding = { name: 'vduse' };
          delete vm.spec.template.spec.domain.devices.interfaces.find((iface: Loose) => iface.name === 'dataplane').bridge;
        });
        const { vmi, pod } = await launched(plainNs, 'vm-by-hand');
        expect(sidecars(pod)).toHaveLength(1);
        expect(vmi.spec.domain.memory?.reservedOverhead?.memLock).toBeUndefined();
      } finally {
        await reconcile();
      }
    });

    it("docs/install.md's uninstall, run as written, leaves HCO's KubeVirt CR as it was before the install", () => {
      const commands = runDocsCommands('docs/install.md', '## Uninstall');
      expect(commands.join('\n')).toContain('deploy/kubevirt/hco/unregister-jsonpatch.jq');
      expect(commands.join('\n')).toContain(JSON.stringify(REMOVE_BINDINGS));
      const after = liveHyperConverged();
      expect(after.metadata.annotations ?? {}).toEqual(before.metadata.annotations ?? {});
      expect(kubevirtFor(release, after)).toEqual(kubevirtFor(release, before));
    });

    it.each(SHAPES.slice(1))('$title, stored by the API server: the steps, doctor passes on HCO\'s KubeVirt CR, and the uninstall takes back exactly what they added', async ({ title, change, check }) => {
      const ns = `hco-shape-${String(SHAPES.findIndex((shape) => shape.title === title))}`;
      kubectl(['create', 'namespace', ns]);
      made.add(ns);
      kubectl(['create', '-f', '-'], JSON.stringify(defaultHyperConverged(release, ns)));
      const shaped = liveHyperConverged(ns);
      change(shaped);
      kubectl(['replace', '-f', '-'], JSON.stringify(shaped));
      const stored = liveHyperConverged(ns);
      const hc = ['hyperconverged', HYPERCONVERGED, '-n', ns];
      kubectl(['patch', ...hc, '--type', 'merge', '-p', JSON.stringify(jq('networkbinding.jq', undefined, ['--arg', 'image', IMAGE]))]);
      kubectl(['patch', ...hc, '--type', 'json', '-p', JSON.stringify(jq('register-jsonpatch.jq', liveHyperConverged(ns)))]);
      const kubevirtBefore = kubevirtFor(release, stored);
      const kubevirtAfter = await reconcile(liveHyperConverged(ns));
      expectOnlyOurChanges(kubevirtBefore, kubevirtAfter);
      check?.(kubevirtBefore, kubevirtAfter);
      const { passed, checks } = doctorChecks();
      expect(passed, JSON.stringify(checks)).toBe(true);
      kubectl(['patch', ...hc, '--type', 'json', '-p', JSON.stringify(jq('unregister-jsonpatch.jq', liveHyperConverged(ns)))]);
      kubectl(['patch', ...hc, '--type', 'merge', '-p', JSON.stringify(REMOVE_BINDINGS)]);
      expect(liveHyperConverged(ns).metadata.annotations).toEqual(stored.metadata.annotations);
      expect(kubevirtFor(release, liveHyperConverged(ns))).toEqual(kubevirtBefore);
    });
  });
}
