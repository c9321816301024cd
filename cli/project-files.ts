import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT_NAME = 'kubevirt-vduse';

/** Whether dir holds the checkout's package.json (dist/ holds one too, that only marks ES modules). */
function isProjectRoot(dir: string): boolean {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return false;
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown }).name === PROJECT_NAME;
  } catch {
    return false;
  }
}

/** The project checkout, whether running from source (cli/) or from the bundle (dist/, dist/chunks/). */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!isProjectRoot(dir)) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the ${PROJECT_NAME} checkout (a package.json named ${PROJECT_NAME}) above ${dirname(fileURLToPath(import.meta.url))}`);
    dir = parent;
  }
  return dir;
}
