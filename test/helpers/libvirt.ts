import { describe, inject, it } from 'vitest';

/**
 * A suite that needs libvirt. Under CI=true a missing libvirt fails the run; elsewhere the suite
 * is skipped with a loud message.
 */
export function describeWithLibvirt(title: string, body: () => void): void {
  const status = inject('libvirtStatus');
  if (status === 'ready') {
    describe(title, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(title, () => {
      it('has libvirt', () => {
        throw new Error(`libvirt is required under CI=true: ${status}`);
      });
    });
    return;
  }
  console.warn(`\n*** SKIPPING "${title}": libvirt is not usable here (${status}) ***\n`);
  describe.skip(title, body);
}
