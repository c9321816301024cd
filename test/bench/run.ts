// npm run bench: every benchmark, each against a baseline measured in the same run.
import * as domainRewrite from './domain-rewrite.bench.ts';
import * as peer from './peer.bench.ts';
import * as podEnvelope from './pod-envelope.bench.ts';
import * as sidecar from './sidecar.bench.ts';
import * as webhook from './webhook.bench.ts';

const benchmarks = [domainRewrite, sidecar, podEnvelope, webhook, peer];
console.log(`node ${process.version}, ${process.arch}`);
let allMet = true;
for (const benchmark of benchmarks) {
  allMet = (await benchmark.run()) && allMet;
  console.log('');
}
console.log(allMet ? 'all targets met' : 'some targets MISSED');
