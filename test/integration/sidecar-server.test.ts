// The real sidecar process on a real unix socket, driven the way virt-launcher drives it.
import { status } from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defineWithQemuDriver } from '../../cli/libvirt.ts';
import { interfaceByAlias } from '../helpers/canonical-xml.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { kubevirtFile, readKubevirtFile } from '../helpers/kubevirt-files.ts';
import { startSidecar, type SidecarProcess } from '../helpers/hook-client.ts';
import { inject } from 'vitest';
import { noCloudData, replayBoot, replayMigrationTarget, VirtLauncher, VirtLauncherPanic } from '../helpers/virt-launcher-replay.ts';
import { macFor, masqueradeDefault, vduseInterface, vmiWith } from '../helpers/vmis.ts';
import { hookSocketName } from '../../api/names.ts';

const domainXml = readKubevirtFile('domain_x86_64.xml');
const vmi = vmiWith([masqueradeDefault, vduseInterface('net1', { macAddress: macFor(0), pciAddress: '0000:0a:00.0' })], {
  annotations: { 'vduse.kubevirt.io/coalesce': 'adaptive-rx,rx-usecs=64' },
});
const vmiBytes = Buffer.from(JSON.stringify(vmi));
const networkInfo = (device: string) =>
  JSON.stringify({ interfaces: [{ network: 'net1', deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: device } }, mac: macFor(0) }] });

/** A virt-launcher pod's view: <dir>/hooks is the compute container's hooks dir, the sidecar's socket dir is one level down. */
function node(networkDevice: string, networkInfoDelayMs?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'vduse-sidecar-'));
  const hooksDir = join(dir, 'hooks');
  const socketDir = join(hooksDir, 'hook-sidecar-0');
  const infoPath = join(dir, 'network-info');
  if (networkInfoDelayMs === undefined) writeFileSync(infoPath, networkInfo(networkDevice));
  else setTimeout(() => writeFileSync(infoPath, networkInfo(networkDevice)), networkInfoDelayMs);
  return { hooksDir, socketDir, infoPath };
}

const running: SidecarProcess[] = [];
afterAll(async () => {
  await Promise.all(running.map((sidecar) => sidecar.stop()));
});
async function sidecarOn(place: { socketDir: string; infoPath: string }, timeout = '5', binding = 'vduse') {
  const sidecar = await startSidecar(place.socketDir, ['--network-info', place.infoPath, '--network-info-timeout', timeout], { NETWORK_BINDING_PLUGIN_NAME: binding });
  running.push(sidecar);
  return sidecar;
}

const userData = '#cloud-config\npassword: fedora\n';
const withBinding = (binding: string, annotations: Record<string, string> = { 'vduse.kubevirt.io/coalesce': 'adaptive-rx,rx-usecs=64' }) =>
  vmiWith([masqueradeDefault, vduseInterface('net1', { macAddress: macFor(0), pciAddress: '0000:0a:00.0', binding: { name: binding } })], { annotations });

async function expectDefinedByLibvirt(xml: string) {
  if (inject('libvirtStatus') === 'ready') expect((await defineWithQemuDriver(xml)).accepted).toBe(true);
}

describe('sidecar under the virt-launcher replay', () => {
  it('a VMI without cloud-init, on the plain binding: no PreCloudInitIso subscription, three defines, Shutdown', async () => {
    const place = node('/dev/vhost-vdpa-3');
    const sidecar = await sidecarOn(place);
    const vmiNoCloudInit = withBinding('vduse');
    const boot = await replayBoot({ launcher: { hooksDir: place.hooksDir, sidecars: 1 }, vmi: vmiNoCloudInit, cloudInit: null, domainXml });

    expect(boot.sidecars).toEqual([{ socketPath: sidecar.socketPath, name: 'vduse', version: 'v1alpha3', hookPoints: ['OnDefineDomain', 'Shutdown'] }]);
    expect(boot.cloudInit).toBeNull();
    expect(boot.steps.map(({ step }) => step)).toEqual(['collect', 'OnDefineDomain', 'OnDefineDomain', 'OnDefineDomain', 'Shutdown']);
    const [first, ...later] = boot.domains;
    const iface = interfaceByAlias(first!, 'ua-net1');
    expect(iface?.getAttribute('type')).toBe('vdpa');
    expect(iface?.getElementsByTagName('source').item(0)?.getAttribute('dev')).toBe('/var/run/kubevirt-hooks/hook-sidecar-0/vduse/pod6c270ef2f25');
    expect(readlinkSync(join(place.socketDir, 'vduse', 'pod6c270ef2f25'))).toBe('/dev/vhost-vdpa-3');
    for (const again of later) expect(again).toBe(first);
    await expectDefinedByLibvirt(first!);
    expect(await sidecar.exited).toBe(0);
    // Log lines as KubeVirt's components write them: string level, RFC 3339 timestamp.
    const serving = sidecar.stderr().split('\n').map((line) => JSON.parse(line || '{}') as Record<string, unknown>).find((line) => line.msg === 'serving')!;
    expect(serving).toMatchObject({ level: 'info', component: 'sidecar' });
    expect(String(serving.timestamp)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(existsSync(sidecar.socketPath)).toBe(false);
  });

  it('a VMI with cloud-init and coalescing, on the cloud-init binding: the udev rule is merged into the user data', async () => {
    const place = node('/dev/vhost-vdpa-3');
    const sidecar = await sidecarOn(place, '5', 'vduse-cloudinit');
    const boot = await replayBoot({ launcher: { hooksDir: place.hooksDir, sidecars: 1 }, vmi: withBinding('vduse-cloudinit'), cloudInit: noCloudData(userData), domainXml });

    expect(boot.sidecars[0]!.hookPoints).toEqual(['OnDefineDomain', 'PreCloudInitIso', 'Shutdown']);
    expect(boot.steps.map(({ step }) => step)).toEqual(['collect', 'PreCloudInitIso', 'OnDefineDomain', 'OnDefineDomain', 'OnDefineDomain', 'Shutdown']);
    expect(boot.cloudInit).toMatchObject({ DataSource: 'noCloud', VolumeName: 'cloudinitdisk', NoCloudMetaData: { 'local-hostname': 'testvmi' } });
    expect(boot.cloudInit!.UserData).toContain('password: fedora');
    expect(boot.cloudInit!.UserData).toContain(`ATTR{address}=="${macFor(0)}"`);
    expect(boot.cloudInit!.UserData).toContain('ethtool -C %k adaptive-rx on rx-usecs 64');
    expect(interfaceByAlias(boot.domains[0]!, 'ua-net1')?.getAttribute('type')).toBe('vdpa');
    await expectDefinedByLibvirt(boot.domains[0]!);
    expect(sidecar.stderr()).not.toContain('password: fedora');
  });

  it('a hand-written binding {name: vduse} with coalescing asked and no cloud-init volume boots, without coalescing', async () => {
    const place = node('/dev/vhost-vdpa-4');
    await sidecarOn(place);
    const boot = await replayBoot({ launcher: { hooksDir: place.hooksDir, sidecars: 1 }, vmi: withBinding('vduse'), cloudInit: null, domainXml, defineCalls: 2 });
    expect(boot.domains).toHaveLength(2);
    expect(interfaceByAlias(boot.domains[1]!, 'ua-net1')?.getAttribute('type')).toBe('vdpa');
  });

  it('the replay fails exactly where virt-launcher panics: a PreCloudInitIso subscriber and a VMI without cloud-init', async () => {
    const place = node('/dev/vhost-vdpa-4');
    await sidecarOn(place, '5', 'vduse-cloudinit');
    const boot = replayBoot({ launcher: { hooksDir: place.hooksDir, sidecars: 1 }, vmi: withBinding('vduse-cloudinit'), cloudInit: null, domainXml });
    await expect(boot).rejects.toBeInstanceOf(VirtLauncherPanic);
    await expect(boot).rejects.toThrow(/vduse-cloudinit subscribed to PreCloudInitIso, and this VMI has no cloud-init volume/);
  });

  it('skips the device-link folder and other nested directories, and waits for a sidecar that starts late', async () => {
    const place = node('/dev/vhost-vdpa-5');
    mkdirSync(join(place.hooksDir, 'other-container', 'nested'), { recursive: true });
    const launcher = new VirtLauncher({ hooksDir: place.hooksDir, sidecars: 1 });
    const collected = launcher.collect();
    await new Promise((resolve) => setTimeout(resolve, 700));
    await sidecarOn(place);
    const [sidecar] = await collected;
    expect(sidecar!.socketPath).toBe(join(place.socketDir, hookSocketName('vduse')));
    await launcher.onDefineDomain(domainXml, withBinding('vduse'));
    expect(existsSync(join(place.socketDir, 'vduse'))).toBe(true);
    // A second collect sees the link folder and still finds only the socket.
    expect((await new VirtLauncher({ hooksDir: place.hooksDir, sidecars: 1 }).collect()).map(({ socketPath }) => socketPath)).toEqual([sidecar!.socketPath]);
  });

  it('two sidecars of this image in one pod, each for its binding, have their own socket names, and virt-launcher collects both', async () => {
    // virt-launcher tracks sockets by file name (manager.go processedSockets): with one name for
    // both, it would count one and wait for the other until its timeout.
    const place = node('/dev/vhost-vdpa-6');
    const second = { socketDir: join(place.hooksDir, 'hook-sidecar-1'), infoPath: place.infoPath };
    const plain = await sidecarOn(place, '5', 'vduse');
    const cloudInit = await sidecarOn(second, '5', 'vduse-cloudinit');
    expect([plain.socketPath, cloudInit.socketPath]).toEqual([join(place.socketDir, 'vduse.sock'), join(second.socketDir, 'vduse-cloudinit.sock')]);
    const collected = await new VirtLauncher({ hooksDir: place.hooksDir, sidecars: 2, collectTimeoutMs: 5000 }).collect();
    expect(collected.map(({ name }) => name).sort()).toEqual(['vduse', 'vduse-cloudinit']);
  });

  it('serves the older versions too', async () => {
    const sidecar = await sidecarOn(node('/dev/vhost-vdpa-1'));
    const v1 = (await sidecar.call('v1alpha1', 'OnDefineDomain', { domainXML: Buffer.from(domainXml), vmi: vmiBytes })).domainXML!.toString();
    const v2 = (await sidecar.call('v1alpha2', 'OnDefineDomain', { domainXML: Buffer.from(domainXml), vmi: vmiBytes })).domainXML!.toString();
    expect(v1).toBe(v2);
    expect(v1).toContain('type="vdpa"');
  });

  it('exits 0 on SIGTERM and removes its socket', async () => {
    const sidecar = await sidecarOn(node('/dev/vhost-vdpa-1'));
    sidecar.process.kill('SIGTERM');
    expect(await sidecar.exited).toBe(0);
    expect(existsSync(sidecar.socketPath)).toBe(false);
  });

  it('replaces a stale socket left by a crashed process', async () => {
    const place = node('/dev/vhost-vdpa-1');
    const crashed = await sidecarOn(place);
    crashed.process.kill('SIGKILL');
    await crashed.exited;
    expect(existsSync(crashed.socketPath)).toBe(true);
    const restarted = await sidecarOn(place);
    expect((await restarted.call('info', 'Info', {}, 1000)).name).toBe('vduse');
  });
});

describe('migration', () => {
  it('gives the target the same XML as the source, and links each node\'s own device (a cloud-init VMI: the target runs PreCloudInitIso too)', async () => {
    const sourceNode = node('/dev/vhost-vdpa-3');
    const targetNode = node('/dev/vhost-vdpa-7');
    await Promise.all([sidecarOn(sourceNode, '5', 'vduse-cloudinit'), sidecarOn(targetNode, '5', 'vduse-cloudinit')]);
    const migrating = withBinding('vduse-cloudinit');
    const source = await replayBoot({ launcher: { hooksDir: sourceNode.hooksDir, sidecars: 1 }, vmi: migrating, cloudInit: noCloudData(userData), domainXml, defineCalls: 2 });
    const sourceXml = source.domains.at(-1)!;
    // On the target, KubeVirt sends the source's XML, and ignores the answer.
    const target = await replayMigrationTarget({ launcher: { hooksDir: targetNode.hooksDir, sidecars: 1 }, vmi: migrating, cloudInit: noCloudData(userData), domainXml, sourceDomainXml: sourceXml });
    expect(target.steps.map(({ step }) => step)).toEqual(['collect', 'PreCloudInitIso', 'OnDefineDomain']);
    const targetXml = target.domains[0]!;
    expect(targetXml).toBe(sourceXml);
    expect(readlinkSync(join(sourceNode.socketDir, 'vduse', 'pod6c270ef2f25'))).toBe('/dev/vhost-vdpa-3');
    expect(readlinkSync(join(targetNode.socketDir, 'vduse', 'pod6c270ef2f25'))).toBe('/dev/vhost-vdpa-7');

    const dir = mkdtempSync(join(tmpdir(), 'vduse-migration-'));
    writeFileSync(join(dir, 'source.xml'), sourceXml);
    writeFileSync(join(dir, 'target.xml'), targetXml);
    const check = (a: string, b: string) => spawnSync(process.execPath, [projectFile('cli', 'main.ts'), 'check-migration', a, b], { encoding: 'utf8' });
    const passed = check(join(dir, 'source.xml'), join(dir, 'target.xml'));
    expect(passed.stdout).toContain('no differences');
    expect(passed.status).toBe(0);

    writeFileSync(join(dir, 'node-specific.xml'), targetXml.replace('/var/run/kubevirt-hooks/hook-sidecar-0/vduse/pod6c270ef2f25', '/dev/vhost-vdpa-7').replace('rx_queue_size="1024"', 'rx_queue_size="512"'));
    const failed = check(join(dir, 'source.xml'), join(dir, 'node-specific.xml'));
    expect(failed.status).toBe(1);
    expect(failed.stdout).toContain('ua-net1: rx_queue_size: source 1024, target 512');
    expect(failed.stdout).toContain('ua-net1: target path is a node device, not the stable link');

    // KubeVirt's own domain, unconverted, on both sides (the wrong VM dumped): nothing to compare is a failure.
    const unconverted = check(kubevirtFile('domain_x86_64.xml'), kubevirtFile('domain_x86_64.xml'));
    expect(unconverted.status).toBe(1);
    expect(unconverted.stdout).toContain('nothing to compare: neither domain has a vdpa interface');
    expect(unconverted.stdout).not.toContain('no differences');
  });
});

describe('network-info timing', () => {
  it('waits for network-info that appears 2 s late', async () => {
    const sidecar = await sidecarOn(node('/dev/vhost-vdpa-2', 2000));
    const xml = (await sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML: Buffer.from(domainXml), vmi: vmiBytes })).domainXML!.toString();
    expect(xml).toContain('type="vdpa"');
  });

  it('fails at the timeout with FAILED_PRECONDITION and what to check, when it never appears', async () => {
    const place = node('/dev/vhost-vdpa-2', 60_000);
    const sidecar = await sidecarOn(place, '1');
    const started = Date.now();
    const error = await sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML: Buffer.from(domainXml), vmi: vmiBytes }).catch((e: unknown) => e as { code: number; details: string });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(error).toMatchObject({ code: status.FAILED_PRECONDITION });
    expect((error as { details: string }).details).toMatch(/VirtualMachineInstance mynamespace\/testvmi: no vhost-vDPA device for network\(s\) net1 .* after 1 s .*resourceName.*downwardAPI: device-info/);
  });
});

describe('bad input', () => {
  it('answers malformed XML and VMI JSON with INVALID_ARGUMENT, an unknown version with UNIMPLEMENTED, and keeps serving', async () => {
    const sidecar = await sidecarOn(node('/dev/vhost-vdpa-1'));
    const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (e: unknown) => e as { code: number; details: string });
    const badXml = await failure(sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML: Buffer.from('<domain><devices>'), vmi: vmiBytes }));
    expect(badXml).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(badXml!.details).toContain('domain XML: document');
    const badVmi = await failure(sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML: Buffer.from(domainXml), vmi: Buffer.from('{"spec":') }));
    expect(badVmi).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(badVmi!.details).toContain('VMI from virt-launcher: JSON');
    const e1000 = vmiWith([vduseInterface('net1', { model: 'e1000', macAddress: macFor(0) })]);
    const refused = await failure(sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML: Buffer.from(domainXml), vmi: Buffer.from(JSON.stringify(e1000)) }));
    expect(refused!.details).toContain('interfaces[net1].model: got "e1000"');

    const unknownVersion = spawnSync(process.execPath, ['-e', `
      const grpc = require('@grpc/grpc-js');
      const client = new grpc.Client('unix:${sidecar.socketPath}', grpc.credentials.createInsecure());
      client.makeUnaryRequest('/kubevirt.hooks.v1alpha9.Callbacks/OnDefineDomain', (x) => x, (x) => x, Buffer.alloc(0), (error) => { console.log(error.code); client.close(); });
    `], { encoding: 'utf8', cwd: projectFile() });
    expect(unknownVersion.stdout.trim()).toBe(String(status.UNIMPLEMENTED));

    expect((await sidecar.call('info', 'Info', {}, 1000)).name).toBe('vduse');
    const ok = (await sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML: Buffer.from(domainXml), vmi: vmiBytes })).domainXML!.toString();
    expect(ok).toContain('type="vdpa"');
  });
});
