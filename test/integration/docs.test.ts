// docs/ stays true: the troubleshooting page quotes the real messages, and every doc link lands.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { podInterfaceName } from '../../api/pod-interface.ts';
import { parseWebhookConfig } from '../../webhook/config.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { troubleshootingCases } from '../helpers/troubleshooting-cases.ts';
import { decideFor, POLICY_ENABLED } from '../helpers/admission.ts';
import { vmWith } from '../helpers/vms.ts';

describe('docs', () => {
  it('docs/troubleshooting.md quotes each message exactly as the code makes it', async () => {
    const page = readFileSync(projectFile('docs', 'troubleshooting.md'), 'utf8');
    for (const { title, message } of await troubleshootingCases()) {
      expect(page, title).toContain(`### ${title}\n\n\`\`\`\n${message}\n\`\`\``);
    }
  });

  it('every relative link in README.md, docs/ and deploy/ points at a file that exists', () => {
    const pages = [projectFile('README.md'), projectFile('webhook', 'README.md'), projectFile('deploy', 'README.md'), projectFile('deploy', 'kubevirt', 'README.md'), ...readdirSync(projectFile('docs')).map((file) => projectFile('docs', file))];
    for (const page of pages) {
      for (const [, target] of readFileSync(page, 'utf8').matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)) {
        expect(existsSync(join(dirname(page), target!)), `${page} -> ${target!}`).toBe(true);
      }
    }
  });
});

/** Every template or string literal in the source that starts with "vduse: ": the webhook's warnings. */
function warningTemplates(source: string): string[] {
  const found: string[] = [];
  for (let at = source.search(/[`'"]vduse: /); at >= 0; ) {
    const quote = source[at]!;
    let end = at + 1;
    let text = '';
    while (end < source.length && source[end] !== quote) {
      if (quote === '`' && source.startsWith('${', end)) {
        // A placeholder, nested braces and all: any text.
        let depth = 1;
        end += 2;
        while (depth > 0 && end < source.length) {
          if (source[end] === '{') depth++;
          if (source[end] === '}') depth--;
          end++;
        }
        text += '\u0000';
        continue;
      }
      text += source.charAt(end);
      end++;
    }
    found.push(text);
    const next = source.slice(end + 1).search(/[`'"]vduse: /);
    at = next < 0 ? -1 : end + 1 + next;
  }
  return found;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('docs list what the code says', () => {
  it('docs/troubleshooting.md shows every warning the webhook makes', () => {
    const page = readFileSync(projectFile('docs', 'troubleshooting.md'), 'utf8');
    // The webhook's own, and those it takes from api/ (the keys it does not know: api/keys.ts).
    const templates = ['webhook', 'api']
      .flatMap((dir) => readdirSync(projectFile(dir)).filter((file) => file.endsWith('.ts')).map((file) => projectFile(dir, file)))
      .flatMap((file) => warningTemplates(readFileSync(file, 'utf8')));
    expect(templates.length).toBeGreaterThanOrEqual(10);
    for (const template of templates) {
      const pattern = new RegExp(template.split('\u0000').map(escapeRegExp).join('.+?'));
      expect(pattern.test(page), `no example of "${template.replaceAll('\u0000', '…')}" in docs/troubleshooting.md`).toBe(true);
    }
  });

  it('the README lists every flag of every command', () => {
    const readme = readFileSync(projectFile('README.md'), 'utf8');
    const commandList = readme.slice(readme.indexOf('## The command'), readme.indexOf('## The rewritten interface'));
    const overview = spawnSync(process.execPath, [projectFile('cli', 'main.ts'), '--help'], { encoding: 'utf8' }).stdout;
    const commands = [...overview.matchAll(/^ {2}(\S+) {2,}/gm)].map((match) => match[1]!);
    expect(commands.length).toBeGreaterThanOrEqual(10);
    for (const command of commands) {
      const bullet = commandList.split('\n- ').find((entry) => entry.includes(`\`${command}`));
      expect(bullet, `README has no entry for ${command}`).toBeDefined();
      const help = spawnSync(process.execPath, [projectFile('cli', 'main.ts'), command, '--help'], { encoding: 'utf8' }).stdout;
      const flags = [...help.matchAll(/^ {2}(--[a-z-]+)/gm)].map((match) => match[1]!).filter((flag) => flag !== '--help');
      // The shim commands share a bullet: the flags may be on either command of it.
      for (const flag of flags) expect(bullet!, `README: ${command} ${flag}`).toContain(flag);
    }
  });

  it("the webhook README's config block is the shipped config, and its mutate example runs on the shipped examples", () => {
    const page = readFileSync(projectFile('webhook', 'README.md'), 'utf8');
    const block = /The shipped `deploy\/base\/config.yaml`[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(page)![1]!;
    expect(parseWebhookConfig(block, 'webhook/README.md')).toEqual(parseWebhookConfig(readFileSync(projectFile('deploy', 'base', 'config.yaml'), 'utf8'), 'deploy/base/config.yaml'));
    const command = /npx kubevirt-vduse (mutate [^\n]+)/.exec(page)![1]!.split(' ');
    const result = spawnSync(process.execPath, [projectFile('cli', 'main.ts'), ...command], { encoding: 'utf8', cwd: projectFile() });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stderr).toContain('Warning: vduse: interfaces dataplane now use binding vduse');
  });

  it('docs/migration.md computes the pod interface name as KubeVirt does', () => {
    const page = readFileSync(projectFile('docs', 'migration.md'), 'utf8');
    const [, shell, network, shown] = /echo "(pod\$\(printf %s (\S+) \| sha256sum \| cut -c1-11\))"/.exec(page)!.concat(/`dataplane` gives `(pod[0-9a-f]{11})`/.exec(page)![1]!);
    const computed = spawnSync('sh', ['-c', `echo "${shell!}"`], { encoding: 'utf8' }).stdout.trim();
    expect(computed).toBe(podInterfaceName(network!));
    expect(shown).toBe(podInterfaceName('dataplane'));
  });

  it("docs/usage.md's locked-memory table is what the webhook writes for each row", () => {
    const page = readFileSync(projectFile('docs', 'usage.md'), 'utf8');
    const section = page.slice(page.indexOf('## Locked memory'), page.indexOf('## Seeing what the sidecar will do'));
    const rows = section.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| VM ')).map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim().replaceAll('`', '')));
    expect(rows.length).toBeGreaterThanOrEqual(5);
    for (const [title, interfaces, guest, maxGuest, requests, , added] of rows) {
      const multus = Object.fromEntries(Array.from({ length: Number(interfaces) }, (_unused, index) => [`net${String(index)}`, 'ovs-vduse-a']));
      const memory: Record<string, unknown> = { guest: guest! };
      if (/^\d+\w*$/.test(maxGuest!)) memory.maxGuest = maxGuest;
      if (title!.includes('hugepages')) memory.hugepages = { pageSize: '1Gi' };
      const annotations = title!.includes('memory-hotplug: keep') ? { 'vduse.kubevirt.io/memory-hotplug': 'keep' } : undefined;
      const decision = decideFor(vmWith({ multus, memory, ...(requests ? { requestsMemory: requests } : {}), ...(annotations ? { annotations } : {}) }), { namespaceLabels: POLICY_ENABLED });
      const written = (field: string) => (decision.patch.find((operation) => operation.path.endsWith(`/spec/domain/memory/${field}`)) as { value?: unknown } | undefined)?.value;
      expect((written('reservedOverhead') as { addedOverhead?: string } | undefined)?.addedOverhead, title).toBe(added);
      // A maxGuest the table says the webhook sets, it sets; otherwise it writes none.
      expect(written('maxGuest'), title).toBe(maxGuest!.endsWith("(the webhook's)") ? maxGuest!.split(' ')[0] : undefined);
    }
  });
});
