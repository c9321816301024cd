// The coalescing merge, checked with a YAML parser and with Python's email parser, which is what
// cloud-init itself uses to read multipart user data.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseCoalesce } from '../../api/coalesce.ts';
import { mergeCloudInitData, mergeNoCloudSource } from '../../sidecar/cloud-init/cloud-init-data.ts';
import { COALESCE_RULES_PATH, coalesceCloudConfig } from '../../sidecar/cloud-init/coalesce-config.ts';
import { mergeUserData } from '../../sidecar/cloud-init/user-data.ts';

const ours = coalesceCloudConfig([{ name: 'net1', mac: '02:00:00:AA:BB:CC' }, { name: 'net2', mac: '02:00:00:aa:bb:cd' }], parseCoalesce('adaptive-rx,rx-usecs=64')!);
const SUBJECT = 'VirtualMachineInstance ns/vm';

interface CloudConfig {
  write_files: { path: string; content: string; permissions: string }[];
  runcmd: unknown[];
  [key: string]: unknown;
}

function expectOurs(config: CloudConfig) {
  const file = config.write_files.find((entry) => entry.path === COALESCE_RULES_PATH)!;
  expect(file.permissions).toBe('0644');
  const rules = file.content.split('\n').filter((line) => line.startsWith('ACTION=='));
  expect(rules).toEqual([
    `ACTION=="add", SUBSYSTEM=="net", ATTR{address}=="02:00:00:aa:bb:cc", RUN+="/bin/sh -c 'ethtool -C %k adaptive-rx on rx-usecs 64 || true'"`,
    `ACTION=="add", SUBSYSTEM=="net", ATTR{address}=="02:00:00:aa:bb:cd", RUN+="/bin/sh -c 'ethtool -C %k adaptive-rx on rx-usecs 64 || true'"`,
  ]);
  expect(config.runcmd).toContainEqual(['sh', '-c', 'udevadm control --reload; udevadm trigger --action=add --subsystem-match=net || true']);
}

/** Python's email parser, as cloud-init reads user data: each part's content type and exact payload. */
function mimeParts(message: string): { type: string; payload: string }[] {
  const script = `
import email, json, sys
message = email.message_from_bytes(sys.stdin.buffer.read())
parts = []
def walk(m):
    if m.is_multipart():
        for p in m.get_payload(): walk(p)
    else:
        parts.append({"type": m.get_content_type(), "payload": m.get_payload(decode=True).decode("utf-8")})
walk(message)
print(json.dumps({"multipart": message.is_multipart(), "parts": parts}))
`;
  const result = spawnSync('python3', ['-c', script], { input: message, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  const parsed = JSON.parse(result.stdout) as { multipart: boolean; parts: { type: string; payload: string }[] };
  expect(parsed.multipart).toBe(true);
  return parsed.parts;
}

describe('cloud-config user data', () => {
  const user = '#cloud-config\n# the user\'s comment\npassword: fedora # inline comment\nchpasswd: { expire: False }\nruncmd:\n  - echo first\nwrite_files:\n  - path: /etc/motd\n    content: hello\n';

  it('is merged keeping the user\'s keys, list items and comments', () => {
    const merged = mergeUserData(user, ours, SUBJECT);
    expect(merged.startsWith('#cloud-config\n# the user\'s comment\n')).toBe(true);
    expect(merged).toContain('password: fedora # inline comment');
    const config = parseYaml(merged) as CloudConfig;
    expect(config.password).toBe('fedora');
    expect(config.chpasswd).toEqual({ expire: false });
    expect(config.runcmd[0]).toBe('echo first');
    expect(config.write_files[0]).toEqual({ path: '/etc/motd', content: 'hello' });
    expectOurs(config);
  });

  it('changes nothing when applied twice', () => {
    const once = mergeUserData(user, ours, SUBJECT);
    expect(mergeUserData(once, ours, SUBJECT)).toBe(once);
  });

  it('replaces our rules file when the settings change, without duplicating it', () => {
    const once = mergeUserData(user, ours, SUBJECT);
    const changed = coalesceCloudConfig([{ name: 'net1', mac: '02:00:00:aa:bb:cc' }], parseCoalesce('rx-usecs=8')!);
    const config = parseYaml(mergeUserData(once, changed, SUBJECT)) as CloudConfig;
    expect(config.write_files.filter((file) => file.path === COALESCE_RULES_PATH)).toHaveLength(1);
    expect(config.write_files.find((file) => file.path === COALESCE_RULES_PATH)!.content).toContain('ethtool -C %k rx-usecs 8 ||');
  });

  it('refuses cloud-config that is not YAML, or whose runcmd is not a list, naming the VMI', () => {
    expect(() => mergeUserData('#cloud-config\nkey: [unclosed\n', ours, SUBJECT)).toThrow(`${SUBJECT}: cloud-init user data`);
    expect(() => mergeUserData('#cloud-config\nruncmd: echo\n', ours, SUBJECT)).toThrow('runcmd');
  });
});

describe('other user data', () => {
  it('is empty: our cloud-config alone', () => {
    const merged = mergeUserData('', ours, SUBJECT);
    expect(merged.startsWith('#cloud-config\n')).toBe(true);
    expectOurs(parseYaml(merged) as CloudConfig);
  });

  it.each([
    ['a shell script', '#!/bin/sh\n\necho \'printed from cloud-init userdata\'\n', 'text/x-shellscript'],
    ['a script without a final newline', '#!/bin/bash\necho ünïcödé', 'text/x-shellscript'],
    ['a boothook', '#cloud-boothook\necho boot\n', 'text/cloud-boothook'],
  ])('is %s: wrapped into a multipart with the original byte-for-byte', (_title, original, type) => {
    const merged = mergeUserData(original, ours, SUBJECT);
    const parts = mimeParts(merged);
    expect(parts.map((part) => part.type)).toEqual([type, 'text/cloud-config']);
    expect(parts[0]!.payload).toBe(original);
    expectOurs(parseYaml(parts[1]!.payload) as CloudConfig);
    expect(mergeUserData(merged, ours, SUBJECT)).toBe(merged);
  });

  it('is a multipart already: nested whole, every original part intact', () => {
    const original = [
      'Content-Type: multipart/mixed; boundary="user-boundary"',
      'MIME-Version: 1.0',
      '',
      '--user-boundary',
      'Content-Type: text/cloud-config; charset="us-ascii"',
      '',
      '#cloud-config',
      'password: fedora',
      '--user-boundary',
      'Content-Type: text/x-shellscript; charset="us-ascii"',
      '',
      '#!/bin/sh',
      'echo hi',
      '--user-boundary--',
      '',
    ].join('\n');
    const merged = mergeUserData(original, ours, SUBJECT);
    expect(merged).toContain(original);
    const parts = mimeParts(merged);
    expect(parts.map((part) => part.type)).toEqual(['text/cloud-config', 'text/x-shellscript', 'text/cloud-config']);
    expect(parts[0]!.payload).toBe('#cloud-config\npassword: fedora');
    expect(parts[1]!.payload).toBe('#!/bin/sh\necho hi');
    expectOurs(parseYaml(parts[2]!.payload) as CloudConfig);
    expect(mergeUserData(merged, ours, SUBJECT)).toBe(merged);
  });
});

describe('virt-launcher\'s cloud-init shapes', () => {
  it('fills UserData in cloudInitData and keeps the other Go struct fields', () => {
    const data = { DataSource: 'noCloud', NoCloudMetaData: { InstanceID: 'x' }, ConfigDriveMetaData: null, UserData: '#!/bin/sh\necho\n', NetworkData: 'version: 2\n', DevicesData: null, VolumeName: 'cloudinitdisk' };
    const merged = JSON.parse(mergeCloudInitData(JSON.stringify(data), ours, SUBJECT)) as typeof data;
    expect({ ...merged, UserData: data.UserData }).toEqual(data);
    expect(mimeParts(merged.UserData)[0]!.payload).toBe(data.UserData);
  });

  it('fills the legacy NoCloud source, in base64 when it came in base64', () => {
    const plain = JSON.parse(mergeNoCloudSource(JSON.stringify({ userData: '', networkData: 'n' }), ours, SUBJECT)) as { userData: string; networkData: string };
    expect(plain.networkData).toBe('n');
    expectOurs(parseYaml(plain.userData) as CloudConfig);
    const encoded = JSON.parse(mergeNoCloudSource(JSON.stringify({ userDataBase64: Buffer.from('#cloud-config\na: 1\n').toString('base64') }), ours, SUBJECT)) as { userDataBase64: string };
    const decoded = parseYaml(Buffer.from(encoded.userDataBase64, 'base64').toString()) as CloudConfig;
    expect(decoded.a).toBe(1);
    expectOurs(decoded);
  });

  it('refuses cloudInitData that is not JSON, naming the field', () => {
    expect(() => mergeCloudInitData('{"UserData":', ours, SUBJECT)).toThrow(`${SUBJECT}: cloudInitData`);
    expect(() => mergeCloudInitData('{"UserData": 5}', ours, SUBJECT)).toThrow('cloudInitData.UserData: got 5');
  });
});
