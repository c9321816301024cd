// KubeVirt's own files, read from the KubeVirt Go modules the cluster rig pins
// (cli/kubevirt-files.ts). A test file that imports this module, directly or through another
// helper, needs Go: without it the file is left out of the run with one line saying why
// (test/helpers/missing-parts.ts), and under CI=true it fails.
export { kubevirtFile, kubevirtFilesProblem, readKubevirtFile } from '../../cli/kubevirt-files.ts';

/** The two domains KubeVirt's converter and hook manager tests use. */
export const KUBEVIRT_DOMAINS = ['domain_x86_64.xml', 'hooks_domain.xml'] as const;
