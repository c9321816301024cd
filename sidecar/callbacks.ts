// The hook callbacks, between the gRPC transport and the pure decisions: parse what KubeVirt sent,
// find the devices, link them, and hand back the rewritten domain or cloud-init data.
import { isCoalesceOff } from '../api/coalesce.ts';
import { describeObject, InvalidInputError } from '../api/errors.ts';
import { parseVmiObject, type VirtualMachineInstance, vmiInterfaces } from '../api/kubevirt.ts';
import { ANNOTATION_DEVICES } from '../api/names.ts';
import { parseDevicesAnnotation, type VdpaDevice } from '../api/network-info.ts';
import { normalizeMac } from './domain/addresses.ts';
import { decodeUtf8 } from './domain/xml.ts';
import { linkDevice } from './device-links.ts';
import { type ConversionPlan, domainForVmi, planConversion } from './domain-for-vmi.ts';
import type { CoalescedInterface } from './cloud-init/coalesce-config.ts';
import { waitForDevices } from './network-info-source.ts';

export interface SidecarConfig {
  bindingName: string;
  /** Where the socket and the device links live. */
  socketDir: string;
  /** $CONTAINER_NAME: how the compute container reaches socketDir. */
  containerName: string;
  networkInfoPath: string;
  networkInfoTimeoutMs: number;
  /** Run through hooks.kubevirt.io/hookSidecars: the networks annotation also selects interfaces. */
  annotationHook: boolean;
}

export interface PreCloudInitIsoInput {
  vmi: Buffer;
  cloudInitData: Buffer;
  cloudInitNoCloudSource: Buffer;
}

export interface PreCloudInitIsoOutput {
  cloudInitData: Buffer;
  cloudInitNoCloudSource: Buffer;
}

const asText = (data: Buffer | string, subject: string, field: string): string => (typeof data === 'string' ? data : decodeUtf8(data, subject, field));

export function parseVmiBytes(bytes: Buffer | string): VirtualMachineInstance {
  const text = asText(bytes, 'VMI from virt-launcher', 'encoding');
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError('VMI from virt-launcher', 'JSON', text.slice(0, 60), `a VMI in JSON (${(error as Error).message})`);
  }
  return parseVmiObject(document, 'VMI from virt-launcher');
}

export class HookCallbacks {
  readonly config: SidecarConfig;

  constructor(config: SidecarConfig) {
    this.config = config;
  }

  async onDefineDomain(domain: Buffer | string, vmiBytes: Buffer | string): Promise<string> {
    const vmi = parseVmiBytes(vmiBytes);
    const domainXml = asText(domain, 'domain XML', 'encoding');
    const plan = planConversion(vmi, this.config);
    if (plan.interfaces.length === 0) return domainXml;
    const devices = await this.devicesFor(vmi, plan);
    // Link on every call, the migration target's included: the target's XML came from the source.
    for (const { name, podInterface } of plan.interfaces) linkDevice(this.config.socketDir, podInterface, devices.get(name)!.path);
    return domainForVmi({ vmi, domainXml, plan, containerName: this.config.containerName, devices });
  }

  async preCloudInitIso(input: PreCloudInitIsoInput): Promise<PreCloudInitIsoOutput> {
    const vmi = parseVmiBytes(input.vmi);
    const plan = planConversion(vmi, this.config);
    if (plan.interfaces.length === 0 || isCoalesceOff(plan.tuning.coalesce)) return input;
    const subject = describeObject('VirtualMachineInstance', vmi.metadata);
    const interfaces = await this.coalescedInterfaces(vmi, plan);
    // Loaded here, not at start-up: only VMIs that ask for coalescing need the YAML library.
    const [{ coalesceCloudConfig }, { mergeCloudInitData, mergeNoCloudSource }] = await Promise.all([
      import('./cloud-init/coalesce-config.ts'),
      import('./cloud-init/cloud-init-data.ts'),
    ]);
    const ours = coalesceCloudConfig(interfaces, plan.tuning.coalesce);
    return {
      cloudInitData: input.cloudInitData.length ? Buffer.from(mergeCloudInitData(asText(input.cloudInitData, subject, 'cloudInitData'), ours, subject)) : input.cloudInitData,
      cloudInitNoCloudSource: input.cloudInitNoCloudSource.length
        ? Buffer.from(mergeNoCloudSource(asText(input.cloudInitNoCloudSource, subject, 'cloudInitNoCloudSource'), ours, subject))
        : input.cloudInitNoCloudSource,
    };
  }

  private async devicesFor(vmi: VirtualMachineInstance, plan: ConversionPlan): Promise<Map<string, VdpaDevice>> {
    const subject = describeObject('VirtualMachineInstance', vmi.metadata);
    const annotation = vmi.metadata?.annotations?.[ANNOTATION_DEVICES];
    if (this.config.annotationHook && annotation !== undefined) {
      return parseDevicesAnnotation(annotation, subject, ANNOTATION_DEVICES);
    }
    return waitForDevices(
      plan.interfaces.map(({ name }) => name),
      { path: this.config.networkInfoPath, timeoutMs: this.config.networkInfoTimeoutMs, subject },
    );
  }

  /** MACs from the VMI, else from network-info; the udev rules match on them. */
  private async coalescedInterfaces(vmi: VirtualMachineInstance, plan: ConversionPlan): Promise<CoalescedInterface[]> {
    const vmiMacs = new Map(vmiInterfaces(vmi).map((iface) => [iface.name, iface.macAddress]));
    const needDevices = plan.interfaces.some(({ name }) => vmiMacs.get(name) === undefined);
    const devices = needDevices ? await this.devicesFor(vmi, plan) : new Map<string, VdpaDevice>();
    return plan.interfaces.map(({ name }) => {
      const mac = normalizeMac(vmiMacs.get(name) ?? devices.get(name)?.mac ?? '');
      if (!mac) {
        throw new InvalidInputError(
          describeObject('VirtualMachineInstance', vmi.metadata),
          `spec.domain.devices.interfaces[${name}].macAddress`,
          vmiMacs.get(name) ?? devices.get(name)?.mac,
          'a unicast MAC, from the VMI or network-info, to match the coalescing udev rule on',
        );
      }
      return { name, mac };
    });
  }
}
