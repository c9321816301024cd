import { describe, expect, it } from 'vitest';
import { computeViewOfDeviceLink } from '../../api/names.ts';
import { podInterfaceName } from '../../api/pod-interface.ts';

describe('pod interface naming', () => {
  it('matches KubeVirt for net1', () => {
    expect(podInterfaceName('net1')).toBe('pod6c270ef2f25');
  });
  it('is "pod" and 11 hex digits, distinct per network', () => {
    const names = ['default', 'net1', 'net2', 'dataplane', 'a.b_c-d'].map(podInterfaceName);
    for (const name of names) expect(name).toMatch(/^pod[0-9a-f]{11}$/);
    expect(new Set(names).size).toBe(names.length);
  });
  it('puts the device link where the compute container sees the sidecar\'s hooks dir', () => {
    expect(computeViewOfDeviceLink('hook-sidecar-0', 'pod6c270ef2f25')).toBe('/var/run/kubevirt-hooks/hook-sidecar-0/vduse/pod6c270ef2f25');
  });
});
