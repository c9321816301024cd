import { createHash } from 'node:crypto';

/** The pod interface name KubeVirt gives a VMI network: "pod" + the first 11 hex digits of sha256(name). */
export function podInterfaceName(networkName: string): string {
  return `pod${createHash('sha256').update(networkName).digest('hex').slice(0, 11)}`;
}
