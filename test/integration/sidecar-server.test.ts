// The real sidecar process on a real unix socket, driven the way virt-launcher drives it.
import { status } from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { defineWithQemuDriver } from '../../cli/libvirt.ts';
import { interfaceByAlias } from '../helpers/canonical-xml.ts';
import { projectFile, readSharedFixture } from '../helpers/fixtures.ts';
import { startSidecar, type SidecarProcess } from '../helpers/hook-client.ts';
import { inject } from 'vitest';
import { macFor, masqueradeDefault, vduseInterface, vmiWith } from '../helpers/vmis.ts';

const domainXml = readSharedFixture('domain_x86_64.xml');
const vmi = vmiWith([masqueradeDefault, vduseInterface('net1', { macAddress: macFor(0), pciAddress: '0000:0a:00.0' })], {
  annotations: { 'vduse.kubevirt.io/coalesce': 'adaptive-rx,rx-usecs=64' },
});
const vmiBytes = Buffer.from(JSON.stringify(vmi));
const networkInfo = (device: string) =>
  JSON.stringify({ interfaces: [{ network: 'net1', deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: device } }, mac: macFor(0) }] });
/** What KubeVirt hands over on the 2nd and 3rd calls: its own ethernet interface, no driver attributes. */
const rebuilt = (xml: string) =>
  xml.replace(/<interface type="vdpa">[\s\S]*?<alias name="ua-net1"\/>[\s\S]*?<\/interface>/, '<interface type="ethernet"><source/><model type="virtio-non-transitional"/><mtu size="1500"/><alias name="ua-net1"/><rom enabled="no"/></interface>');

function node(networkDevice: string, networkInfoDelayMs?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'vduse-sidecar-'));
  const socketDir = join(dir, 'hooks');
  const infoPath = join(dir, 'network-info');
  if (networkInfoDelayMs === undefined) writeFileSync(infoPath, networkInfo(networkDevice));
  else setTimeout(() => writeFileSync(infoPath, networkInfo(networkDevice)), networkInfoDelayMs);
  return { socketDir, infoPath };
}

const running: SidecarProcess[] = [];
afterAll(async () => {
  await Promise.all(running.map((sidecar) => sidecar.stop()));
});
async function sidecarOn(place: { socketDir: string; infoPath: string }, timeout = '5') {
  const sidecar = await startSidecar(place.socketDir, ['--network-info', place.infoPath, '--network-info-timeout', timeout]);
  running.push(sidecar);
  return sidecar;
}

describe('sidecar replaying virt-launcher', () => {
  it('answers Info within 1 s, then PreCloudInitIso, OnDefineDomain three times and Shutdown', async () => {
    const place = node('/dev/vhost-vdpa-3');
    const sidecar = await sidecarOn(place);

    const info = await sidecar.call('info', 'Info', {}, 1000);
    expect(info).toMatchObject({ name: 'vduse', versions: ['v1alpha3', 'v1alpha2', 'v1alpha1'] });
    expect((info.hookPoints as unknown as { name: string }[]).map((point) => point.name)).toEqual(['OnDefineDomain', 'PreCloudInitIso', 'Shutdown']);

    const cloudInitData = JSON.stringify({ DataSource: 'noCloud', UserData: '#cloud-config\npassword: fedora\n', NetworkData: '', VolumeName: 'cloudinitdisk' });
    const cloudInit = await sidecar.call('v1alpha3', 'PreCloudInitIso', { vmi: vmiBytes, cloudInitData: Buffer.from(cloudInitData), cloudInitNoCloudSource: Buffer.alloc(0) });
    const merged = JSON.parse(cloudInit.cloudInitData!.toString()) as Record<string, string>;
    expect(merged.VolumeName).toBe('cloudinitdisk');
    expect(merged.UserData).toContain('password: fedora');
    expect(merged.UserData).toContain(`ATTR{address}=="${macFor(0)}"`);
    expect(merged.UserData).toContain('ethtool -C %k adaptive-rx on rx-usecs 64');

    const first = (await sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML: Buffer.from(domainXml), vmi: vmiBytes })).domainXML!.toString();
    const iface = interfaceByAlias(first, 'ua-net1');
    expect(iface?.getAttribute('type')).toBe('vdpa');
    expect(iface?.getElementsByTagName('source').item(0)?.getAttribute('dev')).toBe('/var/run/kubevirt-hooks/hook-sidecar-0/vduse/pod6c270ef2f25');
    expect(readlinkSync(join(place.socketDir, 'vduse', 'pod6c270ef2f25'))).toBe('/dev/vhost-vdpa-3');
    for (const call of [2, 3]) {
      const input = rebuilt(first);
      expect(input, `call ${call} input`).toContain('type="ethernet"><source/><model type="virtio-non-transitional"/><mtu');
      const again = (await sidecar.call('v1alpha3', 'OnDefineDomain', { domainXML: Buffer.from(input), vmi: vmiBytes })).domainXML!.toString();
      expect(again).toBe(first);
    }
    if (inject('libvirtStatus') === 'ready') expect((await defineWithQemuDriver(first)).accepted).toBe(true);

    await sidecar.call('v1alpha3', 'Shutdown', {});
    expect(await sidecar.exited).toBe(0);
    expect(existsSync(sidecar.socketPath)).toBe(false);
    expect(sidecar.stderr()).not.toContain('password: fedora');
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
  it('gives the target the same XML as the source, and links each node\'s own device', async () => {
    const sourceNode = node('/dev/vhost-vdpa-3');
    const targetNode = node('/dev/vhost-vdpa-7');
    const [source, target] = await Promise.all([sidecarOn(sourceNode), sidecarOn(targetNode)]);
    const request = { domainXML: Buffer.from(domainXml), vmi: vmiBytes };
    const sourceXml = (await source.call('v1alpha3', 'OnDefineDomain', request)).domainXML!.toString();
    // On the target, KubeVirt sends the source's XML.
    const targetXml = (await target.call('v1alpha3', 'OnDefineDomain', { ...request, domainXML: Buffer.from(sourceXml) })).domainXML!.toString();
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
