// npm run build: the CLI as one ES module bundle in dist/, with each command in its own chunk.
// Why a bundle: loading a few hundred files from node_modules cost the sidecar start-up CPU and
// resident memory, and KubeVirt gives the sidecar 200m CPU and 64M, 61.0 MiB (see test/bench/).
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { devDependenciesBundled, type PackageJson, type PackageLock } from './bundle-checks.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
// --outdir DIR builds elsewhere (the image-layout test does); dist/ by default.
const outdirFlag = process.argv.indexOf('--outdir');
const outdir = outdirFlag > 0 ? resolve(process.argv[outdirFlag + 1] ?? '') : join(root, 'dist');
// --no-source-maps: the images leave them out (Dockerfile): smaller, and a stack trace is not how
// errors reach users; every error names the object, field and value. Local builds keep them.
const sourceMaps = !process.argv.includes('--no-source-maps');
rmSync(outdir, { recursive: true, force: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: { 'kubevirt-vduse': 'cli/main.ts' },
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: sourceMaps ? 'linked' : false,
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
  // The CommonJS dependencies call require(); an ES module has none of its own.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});

// The bundle is ES modules; this marks them so wherever dist/ is copied, with no node_modules and
// no package.json around it (the runtime image).
writeFileSync(join(outdir, 'package.json'), '{ "type": "module" }\n');

const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.js'));
const kib = outputs.reduce((sum, [, output]) => sum + output.bytes, 0) / 1024;
console.log(`${outdir}: ${outputs.length} JavaScript files, ${kib.toFixed(0)} KiB`);

// No bundle may hold a dev dependency that no run-time dependency needs (grpc-js, say).
const read = <T>(file: string): T => JSON.parse(readFileSync(join(root, file), 'utf8')) as T; // eslint-disable-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names what it reads
const bundled = Object.values(result.metafile.outputs).flatMap((output) => Object.keys(output.inputs));
const devBundled = devDependenciesBundled(bundled, read<PackageJson>('package.json'), read<PackageLock>('package-lock.json'));
if (devBundled.length > 0) throw new Error(`the bundle holds dev dependencies: ${devBundled.join(', ')}; move them to dependencies, or keep them out of the product's code`);

/**
 * What the sidecar process loads: the entry point, the command table, the sidecar command's chunk,
 * and every chunk those import statically. The sidecar runs in a pod of tens of megabytes and its
 * start-up is VM start-up, so nothing only the webhook or the CLI needs may be in them (pino is the
 * webhook's logger; the sidecar writes its lines with cli/json-lines.ts); the build fails if it is.
 */
const SIDECAR_LOADS = ['cli/main.ts', 'cli/commands.ts', 'cli/sidecar.ts'];
const SIDECAR_FORBIDDEN = [/node_modules\/pino/, /node_modules\/@kubernetes\/client-node\//, /node_modules\/express\//, /node_modules\/prom-client\//, /node_modules\/fast-json-patch\//, /node_modules\/@grpc\//, /^webhook\//, /^cluster\//];
const sidecarEntries = Object.entries(result.metafile.outputs).filter(([, output]) => SIDECAR_LOADS.includes(output.entryPoint ?? ''));
if (sidecarEntries.length !== SIDECAR_LOADS.length) throw new Error(`the metafile has ${sidecarEntries.length} chunks for ${SIDECAR_LOADS.join(', ')}: each must be its own chunk`);
const sidecarChunks = new Set<string>(sidecarEntries.map(([chunk]) => chunk));
for (const chunk of sidecarChunks) {
  for (const imported of result.metafile.outputs[chunk]!.imports) if (imported.kind === 'import-statement' && !imported.external) sidecarChunks.add(imported.path);
}
const sidecarInputs = [...sidecarChunks].flatMap((chunk) => Object.keys(result.metafile.outputs[chunk]!.inputs));
const forbidden = sidecarInputs.filter((input) => SIDECAR_FORBIDDEN.some((pattern) => pattern.test(input)));
if (forbidden.length > 0) throw new Error(`the sidecar's chunks include what only the webhook or the CLI needs: ${forbidden.join(', ')}`);
const sidecarKib = [...sidecarChunks].reduce((sum, chunk) => sum + result.metafile.outputs[chunk]!.bytes, 0) / 1024;
console.log(`sidecar: ${sidecarChunks.size} chunks, ${sidecarKib.toFixed(0)} KiB, from ${sidecarInputs.length} modules, none of the webhook's`);

