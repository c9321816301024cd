// OpenShift Virtualization's part, played with HCO's own code: the harness test/cluster/go/hco,
// built inside an export of kubevirt/hyperconverged-cluster-operator at the release branch that
// ships the rig's KubeVirt (test/cluster/sources.ts HCO_REFS), gives the KubeVirt CR HCO writes for
// a HyperConverged CR, converts HyperConverged CRs between v1 and v1beta1, and serves HCO's CRD
// conversion webhook, so the real API server stores and serves HyperConverged CRs as on OpenShift.
// Played, because HCO's operator itself does not run here (it needs OLM, a kubelet and every
// operand's CRDs): its reconcile of the KubeVirt CR, which HCO does by replacing the CR's spec with
// NewKubeVirt's (controllers/handlers/kubevirt.go UpdateCR); the tests do the same.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { openLoopbackPki } from '../../cli/loopback-pki.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { buildModule } from './build.ts';
import { alive, CLUSTER_CA, KUBECONFIG, readState, restartPart, STATE_DIR } from './cluster.ts';
import { kubectl, until } from './helpers.ts';
import { HCO_REFS, missingSource, sourceExport } from './sources.ts';

/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return --
   Loose on purpose: HCO's CRD and CRs are read as the API server and HCO give them. */

export const HCO_SOURCE = 'hyperconverged-cluster-operator';
export const HCO_NAMESPACE = 'openshift-cnv';
export const HYPERCONVERGED = 'kubevirt-hyperconverged';

/** A HyperConverged or KubeVirt CR, loosely: the tests read what HCO and the API server made. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Loose = Record<string, any>;

export interface HcoRelease {
  /** The HCO branch: release-1.18 or release-1.19. */
  ref: string;
  /** Its export in the build cache. */
  dir: string;
  harness: string;
}

/** The HCO branch that ships the rig's KubeVirt version. */
export const hcoRefFor = (kubevirt: string): string | undefined => (HCO_REFS as Record<string, string>)[kubevirt];

/** Each HCO branch whose export is in the build cache, or the one line saying what is missing. */
export function hcoExport(ref: string): { dir: string } | { missing: string } {
  const exported = sourceExport(HCO_SOURCE, ref);
  return exported ? { dir: exported.dir } : { missing: missingSource(HCO_SOURCE, ref) };
}

/** The harness for the branch, built (minutes when cold) from its export. */
export async function hcoRelease(ref: string): Promise<HcoRelease> {
  const exported = hcoExport(ref);
  if ('missing' in exported) throw new Error(exported.missing);
  return { ref, dir: exported.dir, harness: join(await buildModule(`hco-${ref}`), 'kubevirt-vduse-hco') };
}

function harness(release: HcoRelease, args: string[], input: object): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(release.harness, args, { input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
}

/** The KubeVirt CR HCO writes for the HyperConverged CR (handlers.NewKubeVirt); throws with HCO's refusal. */
export function kubevirtFor(release: HcoRelease, hc: object): Loose {
  const result = harness(release, ['kubevirt'], hc);
  if (result.status !== 0) throw new Error(`HCO ${release.ref}: ${result.stderr.trim()}`);
  return JSON.parse(result.stdout) as Loose;
}

/** The HyperConverged CR in v1 or v1beta1, by HCO's own conversion. */
export function convertedTo(release: HcoRelease, version: 'v1' | 'v1beta1', hc: object): Loose {
  const result = harness(release, ['hyperconverged', version], hc);
  if (result.status !== 0) throw new Error(`HCO ${release.ref}: ${result.stderr.trim()}`);
  return JSON.parse(result.stdout) as Loose;
}

/** HCO's default HyperConverged CR, as HCO deploys it (deploy/hco.cr.yaml), in a Namespace. */
export function defaultHyperConverged(release: HcoRelease, namespace = HCO_NAMESPACE): Loose {
  const hc = parseYaml(readFileSync(join(release.dir, 'deploy', 'hco.cr.yaml'), 'utf8')) as Loose;
  return { ...hc, metadata: { ...hc.metadata, namespace } };
}

/** The version the HyperConverged CRD stores (v1beta1 in HCO 1.18, v1 from 1.19). */
export const storageVersion = (release: HcoRelease): 'v1' | 'v1beta1' =>
  (parseYaml(readFileSync(join(release.dir, 'deploy', 'crds', 'hco00.crd.yaml'), 'utf8')) as Loose).spec.versions.find((version: Loose) => version.storage).name;

/** HCO's source, for what the docs quote from it. */
export const hcoSource = (release: HcoRelease, ...path: string[]) => readFileSync(join(release.dir, ...path), 'utf8');

// HCO's webhook Service and the conversion path and port its conversion-webhook controller writes
// into the CRD (controllers/webhooks/conversion-webhook-controller, pkg/util/consts.go).
const WEBHOOK_SERVICE = 'hyperconverged-cluster-webhook-service';
const WEBHOOK_PORT = 4343;

/**
 * HCO's HyperConverged CRD on the rig's API server, with the conversion webhook as HCO's controller
 * configures it, served by the harness (a Service that is an ExternalName to localhost, as the
 * rig's other webhooks; the certificate from the cluster CA, as service-ca would give it).
 * Returns what undoes it.
 */
export async function installHyperConvergedCrd(release: HcoRelease): Promise<() => void> {
  kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: HCO_NAMESPACE } }));
  kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: WEBHOOK_SERVICE, namespace: HCO_NAMESPACE }, spec: { type: 'ExternalName', externalName: 'localhost' } }));
  const certificate = openLoopbackPki({ dir: join(STATE_DIR, 'pki'), caName: 'cluster-ca' }).issue('hco-webhook', { days: 7, altNames: [`DNS:${WEBHOOK_SERVICE}.${HCO_NAMESPACE}.svc`, 'DNS:localhost', 'IP:127.0.0.1'] });
  const log = join(STATE_DIR, 'logs', 'hco-conversion-webhook.log');
  const fd = openSync(log, 'a');
  const server: ChildProcess = spawn(release.harness, ['convert', '--cert', certificate.certPath, '--key', certificate.keyPath, '--listen', `127.0.0.1:${WEBHOOK_PORT}`], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  let exited: string | undefined;
  server.on('exit', (code, signal) => (exited = `exited ${String(code ?? signal)}`));
  for (const started = Date.now(); spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${String(WEBHOOK_PORT)}`], { input: '', timeout: 5000 }).status !== 0; ) {
    if (exited !== undefined || Date.now() - started > 30_000) throw new Error(`HCO's conversion webhook ${exited ?? 'did not listen within 30 s'}: ${readFileSync(log, 'utf8').trim()}`);
    await sleep(250);
  }
  // Another process on the port (an earlier run's) would have answered: ours must still run.
  await sleep(500);
  if (exited !== undefined) throw new Error(`HCO's conversion webhook ${exited}: ${readFileSync(log, 'utf8').trim()}`);
  const crd = parseYaml(readFileSync(join(release.dir, 'deploy', 'crds', 'hco00.crd.yaml'), 'utf8')) as Loose;
  crd.spec.conversion = {
    strategy: 'Webhook',
    webhook: {
      clientConfig: { service: { name: WEBHOOK_SERVICE, namespace: HCO_NAMESPACE, path: '/convert', port: WEBHOOK_PORT }, caBundle: readFileSync(CLUSTER_CA).toString('base64') },
      conversionReviewVersions: ['v1', 'v1beta1'],
    },
  };
  kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(crd));
  const established = () => (JSON.parse(kubectl(['get', 'crd', crd.metadata.name as string, '-o', 'json'])) as Loose).status?.conditions?.some((condition: Loose) => condition.type === 'Established' && condition.status === 'True') as boolean;
  await until(`the HyperConverged CRD to be established`, () => (established() ? true : undefined));
  return () => {
    kubectl(['delete', 'crd', crd.metadata.name as string, '--wait=true']);
    if (exited !== undefined) throw new Error(`HCO's conversion webhook ${exited} before the end (its log: ${log})`);
    server.kill();
  };
}

/**
 * virt-operator's part when the KubeVirt CR changes, for RBAC: the install strategy KubeVirt's own
 * code derives from the CR (installgen --kubevirt), its roles and bindings applied. On 1.9,
 * virt-controller may read NetworkAttachmentDefinitions only while ExternalNetResourceInjection is
 * off (pkg/virt-operator/resource/generate/install/strategy.go), which HCO's CR turns off.
 */
function reconcileRbac(): void {
  const scratch = mkdtempSync(join(tmpdir(), 'vduse-kubevirt-'));
  writeFileSync(join(scratch, 'kubevirt.json'), kubectl(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '-o', 'json']));
  const install = JSON.parse(execFileSync(join(readState()!.bins.kubevirt, 'installgen'), ['--namespace', 'kubevirt', '--kubevirt', join(scratch, 'kubevirt.json')], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] })) as { items: Loose[] };
  const rbac = install.items.filter((object) => ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(object.kind as string));
  kubectl(['apply', '--server-side', '--force-conflicts', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: rbac }));
}

/**
 * A JSON patch on the rig's KubeVirt CR (HCO's UpdateCR replaces its spec), once virt-controller has
 * read it. KubeVirt 1.9's virt-controller exits to re-initialise when the DRA gates change (HCO's CR
 * disables them; they are Beta, so on by default, in the rig's own), and kubelet would start it
 * again: the rig does (restartPart). virt-operator's RBAC for the new configuration is applied first.
 */
export async function patchKubevirt(operations: object[]): Promise<void> {
  const resourceVersion = kubectl(['patch', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '--type', 'json', '-p', JSON.stringify(operations), '-o', 'jsonpath={.metadata.resourceVersion}']).trim();
  reconcileRbac();
  const part = readState()!.parts['virt-controller']!;
  const read = `from KubeVirt to resource version '${resourceVersion}'`;
  await until(`virt-controller to read the KubeVirt CR at ${resourceVersion}`, () => (readFileSync(part.log, 'utf8').includes(read) ? true : undefined));
  // Its callbacks run right after that line; a re-initialisation is logged there, then it exits.
  for (const started = Date.now(); Date.now() - started < 2000; await sleep(100)) {
    const log = readFileSync(part.log, 'utf8');
    if (!log.slice(log.lastIndexOf(read)).includes('Reinitialize virt-controller')) continue;
    await until('virt-controller to exit to re-initialise', () => (alive(part.pid) ? undefined : true));
    await restartPart('virt-controller', 'successfully acquired lease');
    return;
  }
}

/** The HyperConverged CR as `oc get hyperconverged NAME -n NS -o json` prints it (the v1 API). */
export const liveHyperConverged = (namespace = HCO_NAMESPACE): Loose => JSON.parse(kubectl(['get', 'hyperconverged', HYPERCONVERGED, '-n', namespace, '-o', 'json'])) as Loose;

/**
 * The docs' shell commands for the HyperConverged CR, run by bash from the checkout with `oc` on the
 * PATH as the rig's kubectl: every fenced sh block under the heading that runs `oc patch` or
 * `oc annotate` on it. Returns the commands it ran.
 */
export function runDocsCommands(page: string, heading: string): string[] {
  const markdown = readFileSync(projectFile(page), 'utf8');
  const start = markdown.indexOf(heading);
  if (start < 0) throw new Error(`${page} has no heading ${heading}`);
  // Up to the next heading of the same level or higher.
  const level = /^#+/.exec(heading)![0];
  const end = markdown.slice(start + heading.length).search(new RegExp(`\\n#{1,${String(level.length)}} `));
  const section = markdown.slice(start, end < 0 ? undefined : start + heading.length + end);
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!).filter((block) => /oc (patch|annotate) hyperconverged/.test(block));
  if (blocks.length === 0) throw new Error(`${page} ${heading}: no oc patch or oc annotate of the HyperConverged CR`);
  const bin = mkdtempSync(join(tmpdir(), 'vduse-oc-'));
  writeFileSync(join(bin, 'oc'), `#!/bin/sh\nexec ${join(readState()!.bins.kube, 'kubectl')} --kubeconfig ${KUBECONFIG} "$@"\n`);
  chmodSync(join(bin, 'oc'), 0o755);
  for (const block of blocks) {
    execFileSync('bash', ['-euo', 'pipefail', '-c', block], { cwd: projectFile(), env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` }, stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return blocks;
}
