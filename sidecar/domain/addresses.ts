// The device addresses a VMI interface may pin: MAC, PCI address, ACPI index and boot order.

/** A MAC as libvirt wants it: six lower-case hex pairs joined by ":". KubeVirt also accepts "-". */
export function normalizeMac(mac: string): string | undefined {
  const match = /^([0-9A-Fa-f]{2})([:-])([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})\2([0-9A-Fa-f]{2})$/.exec(mac);
  if (!match) return undefined;
  const octets = [match[1], match[3], match[4], match[5], match[6], match[7]].map((octet) => octet!.toLowerCase());
  // libvirt refuses multicast addresses (lowest bit of the first octet).
  if (parseInt(octets[0]!, 16) & 1) return undefined;
  return octets.join(':');
}

export const MAC_EXPECTED = 'a unicast MAC address such as 02:00:00:aa:bb:cc';

export interface PciAddress {
  domain: string;
  bus: string;
  slot: string;
  function: string;
}

/** KubeVirt's pciAddress, "DDDD:BB:SS.F" in hex, as libvirt <address type='pci'> attributes. */
export function parsePciAddress(text: string): PciAddress | undefined {
  const match = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$/.exec(text);
  if (!match) return undefined;
  const slot = parseInt(match[3]!, 16);
  if (slot > 0x1f) return undefined;
  return {
    domain: `0x${match[1]!.toLowerCase()}`,
    bus: `0x${match[2]!.toLowerCase()}`,
    slot: `0x${match[3]!.toLowerCase()}`,
    function: `0x${match[4]!}`,
  };
}

export const PCI_ADDRESS_EXPECTED = 'a PCI address "DDDD:BB:SS.F" in hex, slot at most 1f, such as 0000:02:00.0';

/** KubeVirt's own bound: unique, from 1 to 16*1024-1. */
export const MAX_ACPI_INDEX = 16 * 1024 - 1;
/** libvirt stores boot order as an unsigned int. */
export const MAX_BOOT_ORDER = 0xffff_ffff;

export function isIntegerInRange(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}
