// Boots L1: this machine's QEMU under TCG (guests may not use /dev/kvm here) with the 6.12 kernel
// and the L1 image (images.ts), this machine's root shared read-only over virtio-9p and the run
// directory read-write. L1 runs the run directory's l1.sh and powers off; its console streams to
// stderr as it comes, each line with L1's seconds, so a long boot shows where it is.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface L1Options {
  kernel: string;
  initrd: string;
  /** Shared read-write at the same path inside L1; holds l1.sh. */
  runDir: string;
  memoryMiB: number;
  cpus: number;
  timeoutMs: number;
  /** Prefix of the progress lines on stderr. */
  label: string;
}

export interface L1Result {
  console: string;
  exitCode: number | null;
  timedOut: boolean;
  seconds: number;
}

// Fewer seconds under TCG: no mitigations to patch in, no delay-loop calibration, no crypto self-tests.
export const FAST_BOOT = 'quiet panic=-1 mitigations=off nokaslr no_timer_check cryptomgr.notests lpj=4000000 tsc=reliable';

/** SeaBIOS's and the serial console's escape sequences and carriage returns. */
const ESC = String.fromCharCode(27);
const TERMINAL_CONTROL = new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]|${ESC}c|\\r`, 'g');

export function bootL1(options: L1Options): Promise<L1Result> {
  const started = Date.now();
  const args = [
    '-accel', 'tcg,thread=multi', '-M', 'q35', '-m', String(options.memoryMiB), '-smp', String(options.cpus),
    '-nographic', '-no-reboot', '-nic', 'none',
    '-kernel', options.kernel, '-initrd', options.initrd,
    '-append', `console=ttyS0 apparmor=0 ${FAST_BOOT} l1.run=${options.runDir}`,
    '-virtfs', 'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${options.runDir},mount_tag=run,security_model=none,multidevs=remap`,
  ];
  const log = createWriteStream(join(options.runDir, 'l1-console.log'));
  return new Promise((resolve, reject) => {
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let timedOut = false;
    const line = (raw: string) => {
      const clean = raw.replace(TERMINAL_CONTROL, '');
      text += `${clean}\n`;
      log.write(`${clean}\n`);
      if (clean.trim()) process.stderr.write(`${options.label} ${Math.round((Date.now() - started) / 1000)}s | ${clean}\n`);
    };
    createInterface({ input: qemu.stdout }).on('line', line);
    createInterface({ input: qemu.stderr }).on('line', line);
    const timer = setTimeout(() => {
      timedOut = true;
      line(`(timed out after ${options.timeoutMs / 1000} s: stopping L1)`);
      qemu.kill('SIGKILL');
    }, options.timeoutMs);
    qemu.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    qemu.on('exit', (code) => {
      clearTimeout(timer);
      log.end();
      resolve({ console: text, exitCode: code, timedOut, seconds: (Date.now() - started) / 1000 });
    });
  });
}
