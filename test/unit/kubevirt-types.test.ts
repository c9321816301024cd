import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseVmiObject, vmiInterfaces } from '../../api/kubevirt.ts';
import { generateKubevirtTypes } from '../../scripts/gen-kubevirt-types.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { readKubevirtFile } from '../helpers/kubevirt-files.ts';

describe('KubeVirt types', () => {
  it('are what the generator makes from KubeVirt\'s swagger.json (run npm run gen:types when this fails)', () => {
    expect(readFileSync(projectFile('api', 'kubevirt.generated.ts'), 'utf8')).toBe(generateKubevirtTypes(readKubevirtFile('swagger.json')));
  });
});

describe('parseVmiObject', () => {
  const roundTrip = JSON.parse(readKubevirtFile('apitesting-VirtualMachineInstance.json')) as Record<string, unknown>;

  it('accepts KubeVirt\'s fully populated round-trip VMI', () => {
    const vmi = parseVmiObject(roundTrip, 'fixture');
    expect(vmiInterfaces(vmi).map((iface) => iface.name)).toEqual(['nameValue']);
  });

  it.each([
    ['a VirtualMachine', { ...roundTrip, kind: 'VirtualMachine' }, 'kind: got "VirtualMachine"; expected "VirtualMachineInstance"'],
    ['another API version', { ...roundTrip, apiVersion: 'kubevirt.io/v1alpha3' }, 'apiVersion: got "kubevirt.io/v1alpha3"'],
    ['no spec', { kind: 'VirtualMachineInstance', metadata: { name: 'a', namespace: 'b' } }, 'VirtualMachineInstance b/a: spec: missing'],
    ['no devices', { spec: { domain: {} } }, 'spec.domain.devices: missing'],
    ['an unnamed interface', { spec: { domain: { devices: { interfaces: [{}] } } } }, 'spec.domain.devices.interfaces[0].name: missing'],
    ['a string binding', { spec: { domain: { devices: { interfaces: [{ name: 'a', binding: 'vduse' }] } } } }, 'interfaces[0].binding: got "vduse"'],
    ['numeric annotations', { metadata: { annotations: { a: 1 } }, spec: { domain: { devices: {} } } }, 'metadata.annotations'],
    ['networks not a list', { spec: { domain: { devices: {} }, networks: {} } }, 'spec.networks'],
    ['null', null, 'expected a VirtualMachineInstance object'],
  ])('refuses %s, naming the field', (_title, document, message) => {
    expect(() => parseVmiObject(document, 'vmi.json')).toThrow(message);
  });
});
