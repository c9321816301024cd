// The build's check that no bundle holds a dev dependency (scripts/build.ts), on the project's own
// package.json and package-lock.json.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { devDependenciesBundled, type PackageJson, type PackageLock } from '../../scripts/bundle-checks.ts';
import { projectFile } from '../helpers/fixtures.ts';

const packageJson = JSON.parse(readFileSync(projectFile('package.json'), 'utf8')) as PackageJson & { dependencies: Record<string, string> };
const lock = JSON.parse(readFileSync(projectFile('package-lock.json'), 'utf8')) as PackageLock;

describe('no bundle holds a dev dependency', () => {
  it('grpc-js is a dev dependency that nothing the product runs needs', () => {
    expect(packageJson.devDependencies).toHaveProperty('@grpc/grpc-js');
    expect(packageJson.dependencies).not.toHaveProperty('@grpc/grpc-js');
    expect(lock.packages['node_modules/@grpc/grpc-js']?.dev).toBe(true);
  });

  it('names a dev-only package the bundle would hold, and passes the run-time ones and those a run-time one needs too', () => {
    const inputs = ['node_modules/@grpc/grpc-js/build/src/index.js', 'node_modules/ws/lib/websocket.js', 'node_modules/xml2js/lib/xml2js.js', 'sidecar/hook-server.ts'];
    expect(devDependenciesBundled(inputs, packageJson, lock)).toEqual(['@grpc/grpc-js']);
    expect(devDependenciesBundled(inputs.slice(1), packageJson, lock)).toEqual([]);
  });
});
