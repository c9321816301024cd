#!/usr/bin/env node
// kubevirt-vduse's entry point. It checks the Node.js version before any other module loads: on an
// older Node the bundle's dependencies fail while loading, with a stack of minified code and no
// word of what is wrong. So this file imports nothing, and loads the commands only once the
// version is known to be good.
const REQUIRED_NODE_MAJOR = 24;

const major = Number(process.versions.node.split('.')[0]);
if (major < REQUIRED_NODE_MAJOR) {
  process.stderr.write(
    `kubevirt-vduse needs Node.js ${REQUIRED_NODE_MAJOR} or later; this is Node.js ${process.versions.node} (${process.execPath}).\n` +
      `From the checkout, after "npm ci && npm run build", run it as "npx kubevirt-vduse ...": npx runs it on the project's own Node.js ${REQUIRED_NODE_MAJOR} (the node@${REQUIRED_NODE_MAJOR} devDependency).\n`,
  );
  process.exit(1);
}
await import('./commands.ts');
