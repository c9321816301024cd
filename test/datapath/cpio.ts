// The initramfs format the kernel unpacks: cpio "newc" (Documentation/driver-api/early-userspace/
// buffer-format.rst). Archives may be concatenated; the kernel unpacks each in turn, so a
// scenario's few files go after a cached base image.

export interface CpioEntry {
  path: string;
  /** File contents; absent for a directory. */
  data?: Buffer;
  /** Permission bits; 0o755 for directories and executables, 0o644 otherwise by default. */
  mode?: number;
}

const hex = (value: number) => value.toString(16).padStart(8, '0');
const pad4 = (length: number) => Buffer.alloc((4 - (length % 4)) % 4);

function header(inode: number, mode: number, size: number, name: string): Buffer {
  const fields = [inode, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, Buffer.byteLength(name) + 1, 0];
  const text = Buffer.from(`070701${fields.map(hex).join('')}${name}\0`);
  return Buffer.concat([text, pad4(text.length)]);
}

/** A newc archive of the entries, each directory before what it holds. */
export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const directories = new Set<string>();
  let inode = 1;
  const directory = (path: string) => {
    if (path === '' || directories.has(path)) return;
    directory(path.split('/').slice(0, -1).join('/'));
    directories.add(path);
    parts.push(header(inode++, 0o040755, 0, path));
  };
  for (const entry of entries) {
    const path = entry.path.replace(/^\/+/, '');
    if (entry.data === undefined) {
      directory(path);
      continue;
    }
    directory(path.split('/').slice(0, -1).join('/'));
    parts.push(header(inode++, 0o100000 | (entry.mode ?? 0o644), entry.data.length, path), entry.data, pad4(entry.data.length));
  }
  parts.push(header(0, 0, 0, 'TRAILER!!!'));
  return Buffer.concat(parts);
}
