// The project stands on its own: a clone with nothing beside it has everything its code, scripts,
// docs and CI read. Any path that climbs out of the checkout, or names a place on one machine,
// fails here.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../helpers/fixtures.ts';

/** Directories that are not the project's own text: installed, built or run state. */
const NOT_OURS = new Set(['node_modules', 'dist', '.git', '.cluster', 'coverage']);
const TEXT = /\.(ts|js|json|md|ya?ml|sh|jq|go|mod|proto|txt|cfg|conf)$|^(Dockerfile|\.dockerignore|\.gitignore|run)$/;

function projectTextFiles(dir = PROJECT_ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return NOT_OURS.has(entry.name) ? [] : projectTextFiles(path);
    return TEXT.test(entry.name) && entry.name !== 'package-lock.json' ? [path] : [];
  });
}

const quotedSegments = (list: string): string[] | undefined => {
  const segments = [...list.matchAll(/\s*,\s*(['"])([^'"]*)\1/g)].map((match) => match[2]!);
  return segments.length > 0 ? segments : undefined;
};

/** The paths in one file's text that lead out of root, each as written. */
export function pathsLeaving(file: string, text: string, root = PROJECT_ROOT): string[] {
  const here = dirname(file);
  const outside = (path: string) => {
    const rel = relative(root, path);
    return rel === '..' || rel.startsWith(`..${sep}`);
  };
  const found: string[] = [];
  // A relative path as written in code, manifests and scripts (../x, ../../x), and a doc's links (a
  // doc's examples may hold paths relative to elsewhere, such as an overlay's kustomization).
  const relativePaths = file.endsWith('.md') ? /(?<=\]\()(?:\.\.\/)+[^\s)#]*/g : /(?<![\w./$}-])(?:\.\.\/)+[^\s'"`)\]},;:]*/g;
  for (const [written] of text.matchAll(relativePaths)) if (outside(resolve(here, written))) found.push(written);
  // new URL('..', import.meta.url) and the like.
  for (const [written, , path] of text.matchAll(/new URL\((['"`])([^'"`]*)\1,\s*import\.meta\.url\)/g)) if (outside(resolve(here, path!))) found.push(written);
  // join(<the file's directory or the project root>, '..', 'x'): the path segments resolved.
  for (const [written, anchor, segments] of text.matchAll(/join\((dirname\(fileURLToPath\(import\.meta\.url\)\)|PROJECT_ROOT|ROOT|root|projectRoot\(\))((?:\s*,\s*(['"])[^'"]*\3)+)/g)) {
    const base = anchor!.startsWith('dirname') ? here : root;
    if (outside(resolve(base, ...(quotedSegments(segments!) ?? [])))) found.push(written);
  }
  // A shell script's own directory, climbed: "$(dirname "$0")/../..".
  for (const [written, climb] of text.matchAll(/\$\(dirname "\$0"\)((?:\/\.\.)+)/g)) if (outside(resolve(here, `.${climb!}`))) found.push(written);
  // Places on one machine, and the design notes and fixtures that used to sit beside the checkout.
  for (const [written] of text.matchAll(/\/work\/[\w./-]*|\bshared\/(?:DESIGN\.md|fixtures)\b/g)) found.push(written);
  return found;
}

/**
 * The directory of design notes and fixtures that used to sit beside the checkout, which the samples
 * below climb to. Put together here so that this file itself names no such path.
 */
const BESIDE = ['sha', 'red'].join('');

describe('the project stands on its own', () => {
  it('finds each way a path can leave the checkout (so the next test could fail)', () => {
    const file = join(PROJECT_ROOT, 'test', 'helpers', 'x.ts');
    expect(pathsLeaving(file, `join(PROJECT_ROOT, '..', '${BESIDE}', 'fixtures', 'kubevirt')`)).toHaveLength(1);
    expect(pathsLeaving(file, `join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '${BESIDE}')`)).toHaveLength(1);
    expect(pathsLeaving(file, "join(dirname(fileURLToPath(import.meta.url)), '..', '..')")).toEqual([]);
    expect(pathsLeaving(file, `new URL('../../../${BESIDE}/swagger.json', import.meta.url)`)).toHaveLength(2);
    expect(pathsLeaving(file, "new URL('../../api/x.ts', import.meta.url)")).toEqual([]);
    expect(pathsLeaving(join(PROJECT_ROOT, 'README.md'), `see [the design](../${BESIDE}/DESIGN.md)`)).toHaveLength(2);
    expect(pathsLeaving(join(PROJECT_ROOT, 'docs', 'a.md'), '```yaml\nresources:\n  - ../../components/monitoring\n```')).toEqual([]);
    expect(pathsLeaving(join(PROJECT_ROOT, 'docs', 'a.md'), 'see [the design](design.md) and [deploy](../deploy/README.md)')).toEqual([]);
    expect(pathsLeaving(join(PROJECT_ROOT, '.ci', 'run'), 'cd "$(dirname "$0")/../.."')).toHaveLength(1);
    expect(pathsLeaving(join(PROJECT_ROOT, '.ci', 'run'), 'cd "$(dirname "$0")/.."')).toEqual([]);
    expect(pathsLeaving(file, `readFileSync('/work/${BESIDE}/DESIGN.md')`)).toHaveLength(1);
  });

  it('no code, script, doc, manifest or CI step reads or links a path outside the checkout', () => {
    // This file is left out: its first test writes such paths on purpose.
    const files = projectTextFiles().filter((file) => file !== fileURLToPath(import.meta.url));
    expect(files).toContain(join(PROJECT_ROOT, '.ci', 'run'));
    expect(files).toContain(join(PROJECT_ROOT, 'README.md'));
    const leaving = files.flatMap((file) => pathsLeaving(file, readFileSync(file, 'utf8')).map((path) => `${relative(PROJECT_ROOT, file)}: ${path}`));
    expect(leaving).toEqual([]);
  });
});
