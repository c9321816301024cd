// Files that change under a running process (a Secret's certificate, a ConfigMap's config): polled
// by content, because a mounted volume swaps a symlink and file events do not follow that.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

export const DEFAULT_POLL_INTERVAL_MS = 2000;

/** The files' contents, and a digest of all of them to compare. */
export function readFiles(paths: readonly string[]): { contents: Buffer[]; digest: string } {
  const contents = paths.map((path) => readFileSync(path));
  const hash = createHash('sha256');
  for (const content of contents) hash.update(content).update('\0');
  return { contents, digest: hash.digest('hex') };
}

/**
 * Calls onChange with the new contents whenever any file's content differs from the last one
 * applied. onChange throws to refuse a content (it is tried again only once it changes again);
 * read errors (a file missing mid-swap) are retried at the next poll.
 */
export function watchFiles(
  paths: readonly string[],
  initialDigest: string,
  intervalMs: number,
  onChange: (contents: Buffer[]) => void,
  onError: (error: unknown, stage: 'read' | 'apply') => void,
): { stop(): void } {
  let seen = initialDigest;
  const timer = setInterval(() => {
    let read: ReturnType<typeof readFiles>;
    try {
      read = readFiles(paths);
    } catch (error) {
      onError(error, 'read');
      return;
    }
    if (read.digest === seen) return;
    seen = read.digest;
    try {
      onChange(read.contents);
    } catch (error) {
      onError(error, 'apply');
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
