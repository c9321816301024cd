// Waits for network-info to list the devices of the converted interfaces: KubeVirt fills the file
// in after the pod starts.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { PreconditionError } from '../api/errors.ts';
import { parseNetworkInfo, type VdpaDevice, vdpaDevicesFor } from '../api/network-info.ts';

const POLL_INTERVAL_MS = 100;

export interface DeviceWait {
  path: string;
  timeoutMs: number;
  /** "VirtualMachineInstance ns/name", for the timeout message. */
  subject: string;
}

/**
 * Resolves once every network has a device. A malformed entry fails at once (InvalidInputError);
 * a missing file or entry is retried until the timeout (PreconditionError).
 */
export async function waitForDevices(networks: readonly string[], wait: DeviceWait): Promise<Map<string, VdpaDevice>> {
  const deadline = Date.now() + wait.timeoutMs;
  let lastProblem = 'not read yet';
  for (;;) {
    let text: string | undefined;
    try {
      text = readFileSync(wait.path, 'utf8');
    } catch (error) {
      lastProblem = `${wait.path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
    }
    // An empty file is how the downward API looks before KubeVirt writes it.
    if (text !== undefined && text.trim() !== '') {
      const devices = vdpaDevicesFor(parseNetworkInfo(text), networks);
      if (devices.size === networks.length) return devices;
      lastProblem = `no entry for ${networks.filter((network) => !devices.has(network)).join(', ')}`;
    }
    if (Date.now() >= deadline) {
      throw new PreconditionError(
        `${wait.subject}: no vhost-vDPA device for network(s) ${networks.join(', ')} in ${wait.path} after ${wait.timeoutMs / 1000} s ` +
          `(${lastProblem}); check that each network's NetworkAttachmentDefinition has k8s.v1.cni.cncf.io/resourceName of the ` +
          'VDUSE device plugin, that the node has free VDUSE devices, and that the binding plugin is registered with downwardAPI: device-info',
      );
    }
    await sleep(Math.min(POLL_INTERVAL_MS, Math.max(0, deadline - Date.now())));
  }
}
