// The Dockerfile read as its stages, for the tests that do what a build would (no container engine
// runs here): the image layout, and the sidecar started with its image's environment.
import { readFileSync } from 'node:fs';
import { projectFile } from './fixtures.ts';

export interface Stage {
  name: string;
  from: string;
  lines: string[];
}

export function dockerfileStages(): Stage[] {
  const stages: Stage[] = [];
  // Continuation lines joined, comments dropped.
  const text = readFileSync(projectFile('Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  for (const line of text.split('\n').map((entry) => entry.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const from = /^FROM\s+(\S+)\s+AS\s+(\S+)$/i.exec(line);
    if (from) stages.push({ from: from[1]!, name: from[2]!, lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

export function dockerfileStage(name: string, stages = dockerfileStages()): Stage {
  const found = stages.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`Dockerfile has no stage ${name}`);
  return found;
}

/** The arguments of one instruction keyword, in order. */
export const instruction = (lines: string[], keyword: string): string[] => lines.filter((line) => line.startsWith(`${keyword} `)).map((line) => line.slice(keyword.length + 1));

/**
 * The environment a target's image sets (ENV KEY=VALUE, through its FROM chain), without PATH:
 * the tests run the image's entry point from the checkout, with their own PATH.
 */
export function imageEnvironment(target: string): Record<string, string> {
  const stages = dockerfileStages();
  const chain: Stage[] = [];
  for (let stage: Stage | undefined = dockerfileStage(target, stages); stage !== undefined; ) {
    chain.unshift(stage);
    const parent: string = stage.from;
    stage = stages.find((candidate) => candidate.name === parent);
  }
  const environment: Record<string, string> = {};
  for (const stage of chain) {
    for (const setting of instruction(stage.lines, 'ENV')) {
      const [key, ...value] = setting.split('=');
      if (key !== 'PATH') environment[key!] = value.join('=');
    }
  }
  return environment;
}
