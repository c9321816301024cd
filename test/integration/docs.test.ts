// docs/ stays true: the troubleshooting page quotes the real messages, and every doc link lands.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectFile } from '../helpers/fixtures.ts';
import { troubleshootingCases } from '../helpers/troubleshooting-cases.ts';

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
