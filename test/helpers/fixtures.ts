import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** KubeVirt's own files, beside the checkout: ../shared/fixtures/kubevirt. */
export const SHARED_FIXTURES = join(PROJECT_ROOT, '..', 'shared', 'fixtures', 'kubevirt');

export const sharedFixture = (name: string): string => join(SHARED_FIXTURES, name);
export const readSharedFixture = (name: string): string => readFileSync(sharedFixture(name), 'utf8');
export const projectFile = (...parts: string[]): string => join(PROJECT_ROOT, ...parts);

/** The two domains KubeVirt's converter produced. */
export const KUBEVIRT_DOMAINS = ['domain_x86_64.xml', 'hooks_domain.xml'] as const;
