// What the build holds its bundle to (scripts/build.ts), apart so that tests can show each check fails.

export interface PackageJson {
  devDependencies?: Record<string, string>;
}
export interface PackageLock {
  packages: Record<string, { dev?: boolean }>;
}

/**
 * The dev dependencies that no run-time dependency needs (package-lock.json marks those "dev",
 * such as grpc-js, which only the tests use) and that the bundle's inputs nonetheless hold: product
 * code that imported one would ship what package.json says is not needed at run time.
 */
export function devDependenciesBundled(bundledInputs: readonly string[], packageJson: PackageJson, lock: PackageLock): string[] {
  return Object.keys(packageJson.devDependencies ?? {}).filter(
    (name) => lock.packages[`node_modules/${name}`]?.dev === true && bundledInputs.some((input) => input.startsWith(`node_modules/${name}/`)),
  );
}
