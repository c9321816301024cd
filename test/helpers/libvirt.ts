import { inject } from 'vitest';
import { describeRequiring } from './requirements.ts';

/**
 * A suite that needs libvirt. Under CI=true a missing libvirt fails the run; elsewhere the suite
 * is skipped with a loud message.
 */
export function describeWithLibvirt(title: string, body: () => void): void {
  const status = inject('libvirtStatus');
  describeRequiring(title, 'libvirt', status === 'ready' ? undefined : status, body);
}
