// What the guest needs for virtio-net notification coalescing: a udev rule per converted
// interface, matched on its MAC, that runs ethtool -C when the interface appears, and a first-boot
// command that triggers the rules for interfaces that already exist.
import { type CoalesceSettings, coalesceEthtoolArguments } from '../../api/coalesce.ts';

export const COALESCE_RULES_PATH = '/etc/udev/rules.d/90-kubevirt-vduse-coalesce.rules';

export interface CoalescedInterface {
  /** VMI interface name, for the rule's comment. */
  name: string;
  mac: string;
}

export interface CoalesceCloudConfig {
  writeFile: { path: string; permissions: string; owner: string; content: string };
  runcmd: string[][];
}

export function coalesceCloudConfig(interfaces: readonly CoalescedInterface[], settings: CoalesceSettings): CoalesceCloudConfig {
  const ethtool = ['ethtool', '-C', '%k', ...coalesceEthtoolArguments(settings)].join(' ');
  const rules = interfaces.map(
    ({ name, mac }) =>
      `# ${name}\n` +
      // A device that does not offer VIRTIO_NET_F_NOTF_COAL refuses; that must not fail the boot.
      `ACTION=="add", SUBSYSTEM=="net", ATTR{address}=="${mac.toLowerCase()}", RUN+="/bin/sh -c '${ethtool} || true'"`,
  );
  return {
    writeFile: {
      path: COALESCE_RULES_PATH,
      permissions: '0644',
      owner: 'root:root',
      content: `# Written by kubevirt-vduse: virtio-net notification coalescing on VDUSE interfaces.\n${rules.join('\n')}\n`,
    },
    runcmd: [['sh', '-c', 'udevadm control --reload; udevadm trigger --action=add --subsystem-match=net || true']],
  };
}
