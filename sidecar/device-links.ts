// The stable links through which the compute container reaches each device:
// <socket-dir>/vduse/<pod iface name> -> /dev/vhost-vdpa-N. The domain XML names the link, never
// the node-specific device, so the XML can migrate; each node re-creates its own link.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DEVICE_LINK_DIR_NAME } from '../api/names.ts';

export const deviceLinkDir = (socketDir: string): string => join(socketDir, DEVICE_LINK_DIR_NAME);

/** Creates or replaces the link atomically: a temporary link, then rename over the old one. */
export async function linkDevice(socketDir: string, podInterface: string, devicePath: string): Promise<string> {
  const dir = deviceLinkDir(socketDir);
  await mkdir(dir, { recursive: true });
  const link = join(dir, podInterface);
  const temporary = join(dir, `.${podInterface}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    await symlink(devicePath, temporary);
    await rename(temporary, link);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return link;
}
