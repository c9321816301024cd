// The stable links through which the compute container reaches each device:
// <socket-dir>/vduse/<pod iface name> -> /dev/vhost-vdpa-N. The domain XML names the link, never
// the node-specific device, so the XML can migrate; each node re-creates its own link.
//
// Synchronous on purpose: calls are served one at a time, and a few microsecond-long syscalls
// cost less in place than a thread-pool round trip each.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { DEVICE_LINK_DIR_NAME } from '../api/names.ts';

export const deviceLinkDir = (socketDir: string): string => join(socketDir, DEVICE_LINK_DIR_NAME);

function currentTarget(link: string): string | undefined {
  try {
    return readlinkSync(link);
  } catch {
    return undefined;
  }
}

/** Creates or replaces the link atomically: a temporary link, then rename over the old one. */
export function linkDevice(socketDir: string, podInterface: string, devicePath: string): string {
  const dir = deviceLinkDir(socketDir);
  const link = join(dir, podInterface);
  if (currentTarget(link) === devicePath) return link;
  mkdirSync(dir, { recursive: true });
  const temporary = join(dir, `.${podInterface}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    symlinkSync(devicePath, temporary);
    renameSync(temporary, link);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
  return link;
}
