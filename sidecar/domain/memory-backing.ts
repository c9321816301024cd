// The guest memory a VDUSE device can reach: all of it, as a shared mapping of a file.
//
// Why (Linux, since VDUSE arrived in 5.15): VDUSE registers its vDPA device in VA mode
// (drivers/vdpa/vdpa_user/vduse_dev.c, vdpa_alloc_device(..., true) for use_va). In that mode
// vhost-vdpa hands the device only the parts of QEMU's address space that are shared mappings of a
// file (drivers/vhost/vdpa.c vhost_vdpa_va_map: `vma->vm_file && (vma->vm_flags & VM_SHARED)`),
// and skips the rest without an error; the VDUSE application reaches them through that file
// (VDUSE_IOTLB_GET_FD, then mmap). Guest RAM in private anonymous memory, libvirt's default, boots
// fine and carries no packet.
//
// What libvirt does with the domain (libvirt 9.0's qemu driver, measured by the launcher suite on
// QEMU's own memory map): <memoryBacking><source type='memfd'/><access mode='shared'/> gives
// memory-backend-memfd with share=on for the main RAM, for each NUMA cell without a memAccess of
// its own, and for each memory device without an access of its own: the virtio-mem device
// virt-launcher attaches for a memory hotplug (pkg/virt-launcher/virtwrap/manager.go
// UpdateGuestMemory) never passes through the sidecars and inherits it. With <hugepages> and no
// source, libvirt maps files on hugetlbfs, which are files: only the access is added.
//
// KubeVirt's converter does the same for its own vhost-user users (v1.8.4 converter.go, the
// isMemfdRequired block: shared access and a memfd source), and its passt sidecar refuses an access
// mode other than shared rather than override it (cmd/sidecars/network-passt-binding/domain
// configurator.go). So does this: an explicit private access anywhere, or an anonymous source,
// says that something wanted memory the device cannot reach, and is refused with where it is.
// Unlike the converter, no NUMA cell is added: libvirt applies the backing to a domain without
// one, and a cell would change the guest's topology.
import { InvalidInputError } from '../../api/errors.ts';
import { attribute, childElements, type XmlElement } from './xml.ts';

/** <memoryBacking>'s children in libvirt's order (docs/formatdomain.rst, Memory Backing). */
const BACKING_ORDER = ['hugepages', 'nosharepages', 'locked', 'source', 'access', 'allocation', 'discard'];
/** Where <memoryBacking> goes among the domain's children when it is new: after the memory sizes. */
const AFTER_MEMORY = ['maxMemory', 'memory', 'currentMemory'];
const SHARED = 'shared';

/**
 * Makes every part of the guest's RAM a shared file mapping, in place; a domain that already has
 * it is left as it is, so the rewrite stays idempotent. Everything else in <memoryBacking>
 * (hugepages, allocation, nosharepages, locked, discard) is kept.
 */
export function shareGuestMemory(root: XmlElement, subject: string): void {
  refusePrivateCells(root, subject);
  refusePrivateMemoryDevices(root, subject);
  const backing = memoryBackingOf(root);
  const source = childElements(backing, 'source')[0];
  const sourceType = attribute(source, 'type');
  if (sourceType === 'anonymous') {
    throw new InvalidInputError(subject, "domain <memoryBacking><source type>", sourceType, `memfd or file, or no source: a VDUSE device reaches only guest memory mapped from a file`);
  }
  const access = attribute(childElements(backing, 'access')[0], 'mode');
  if (access !== undefined && access !== SHARED) {
    throw new InvalidInputError(subject, "domain <memoryBacking><access mode>", access, `"${SHARED}", or none: a VDUSE device reaches only guest memory that QEMU maps shared`);
  }
  // A file or memfd source is kept; with hugepages and no source, libvirt maps hugetlbfs files
  // (KubeVirt's kubevirt.io/memfd: "false"); plain memory gets memfd, as KubeVirt gives it.
  if (sourceType === undefined && childElements(backing, 'hugepages').length === 0) setChild(backing, 'source', { type: 'memfd' }, BACKING_ORDER);
  if (access === undefined) setChild(backing, 'access', { mode: SHARED }, BACKING_ORDER);
}

function refusePrivateCells(root: XmlElement, subject: string): void {
  for (const cpu of childElements(root, 'cpu')) {
    for (const numa of childElements(cpu, 'numa')) {
      for (const cell of childElements(numa, 'cell')) {
        const memAccess = attribute(cell, 'memAccess');
        if (memAccess !== undefined && memAccess !== SHARED) {
          throw new InvalidInputError(subject, `domain <cpu><numa><cell id="${attribute(cell, 'id') ?? '?'}" memAccess>`, memAccess, `"${SHARED}", or none: a VDUSE device reaches only guest memory that QEMU maps shared`);
        }
      }
    }
  }
}

function refusePrivateMemoryDevices(root: XmlElement, subject: string): void {
  for (const devices of childElements(root, 'devices')) {
    for (const [index, memory] of childElements(devices, 'memory').entries()) {
      const access = attribute(memory, 'access');
      if (access !== undefined && access !== SHARED) {
        throw new InvalidInputError(subject, `domain <devices><memory model="${attribute(memory, 'model') ?? '?'}"> #${index + 1} access`, access, `"${SHARED}", or none: a VDUSE device reaches only guest memory that QEMU maps shared`);
      }
    }
  }
}

/** The domain's one <memoryBacking>, made where it is missing or empty. */
function memoryBackingOf(root: XmlElement): XmlElement {
  const existing = root.memoryBacking;
  if (Array.isArray(existing) && existing.length > 0) {
    if (existing.length > 1) throw new InvalidInputError('domain XML', '<memoryBacking>', `${existing.length} elements`, 'at most one <memoryBacking> element');
    if (typeof existing[0] === 'string') existing[0] = {};
    return existing[0] as XmlElement;
  }
  const backing: XmlElement = {};
  insertAfter(root, 'memoryBacking', [backing], AFTER_MEMORY);
  return backing;
}

/** Sets a child element with these attributes, placed in the parent's canonical child order. */
function setChild(parent: XmlElement, tag: string, attributes: Record<string, string>, order: readonly string[]): void {
  insertAfter(parent, tag, [{ $: attributes }], order.slice(0, order.indexOf(tag)));
}

/**
 * Adds a child tag after the last of `before` that the element has (else first among its
 * children). xml2js keeps an element's children as object keys, in insertion order, and builds
 * them in that order; attributes ($) stay first.
 */
function insertAfter(element: XmlElement, tag: string, value: XmlElement[], before: readonly string[]): void {
  const entries = Object.entries(element).filter(([key]) => key !== tag);
  let position = entries.findIndex(([key]) => key !== '$' && key !== '_');
  if (position === -1) position = entries.length;
  for (const [index, [key]] of entries.entries()) if (before.includes(key)) position = index + 1;
  entries.splice(position, 0, [tag, value]);
  for (const key of Object.keys(element)) Reflect.deleteProperty(element, key);
  Object.assign(element, Object.fromEntries(entries));
}
