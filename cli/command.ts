// A subcommand: its flags (with help text and defaults), and how it runs. parseArgs does the parsing;
// this adds required flags, defaults and a --help generated from the same table.
import { parseArgs } from 'node:util';
import { InvalidInputError } from '../api/errors.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  description: string;
  /** Shown in --help; for strings also the value used when the flag is absent. */
  default?: string;
  required?: boolean;
  /** The value's placeholder in --help, such as FILE. */
  placeholder?: string;
}

export type OptionValues = Record<string, string | boolean | undefined>;

export interface Command {
  name: string;
  /** Positional arguments, as shown in the usage line. */
  positionals?: string;
  description?: string;
  options: Record<string, OptionSpec>;
  run(values: OptionValues, positionals: string[]): Promise<number>;
}

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_DENIED = 2;

/** The command's --help; its one-line summary lives in the command table (cli/commands.ts). */
export function commandHelp(binary: string, command: Command, summary: string): string {
  const lines = [`Usage: ${binary} ${command.name} [flags]${command.positionals ? ` ${command.positionals}` : ''}`, '', summary];
  if (command.description) lines.push('', command.description);
  lines.push('', 'Flags:');
  const helpOption: OptionSpec = { type: 'boolean', description: 'show this help' };
  const entries = Object.entries({ ...command.options, help: helpOption });
  const labels = entries.map(([name, spec]) => `  --${name}${spec.type === 'string' ? ` ${spec.placeholder ?? 'VALUE'}` : ''}`);
  const width = Math.max(...labels.map((label) => label.length)) + 2;
  entries.forEach(([, spec], index) => {
    const notes = [spec.required ? 'required' : undefined, spec.default !== undefined ? `default: ${spec.default}` : undefined].filter(Boolean);
    lines.push(`${labels[index]!.padEnd(width)}${spec.description}${notes.length ? ` (${notes.join('; ')})` : ''}`);
  });
  return lines.join('\n') + '\n';
}

export type ParsedInvocation = { help: true } | { help: false; values: OptionValues; positionals: string[] };

export function parseInvocation(command: Command, argv: string[]): ParsedInvocation {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        ...Object.fromEntries(Object.entries(command.options).map(([name, spec]) => [name, { type: spec.type }])),
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: command.positionals !== undefined,
      strict: true,
    });
  } catch (error) {
    throw new InvalidInputError(`${command.name} arguments`, 'command line', argv.join(' '), `${(error as Error).message}; see --help`);
  }
  if (parsed.values.help) return { help: true };
  const values: OptionValues = { ...parsed.values };
  for (const [name, spec] of Object.entries(command.options)) {
    if (values[name] === undefined && spec.type === 'string' && spec.default !== undefined) values[name] = spec.default;
    if (spec.required && (values[name] === undefined || values[name] === '')) {
      throw new InvalidInputError(`${command.name} arguments`, `--${name}`, undefined, `${spec.description}; see --help`);
    }
  }
  return { help: false, values, positionals: parsed.positionals };
}

export function stringOption(values: OptionValues, name: string): string {
  const value = values[name];
  if (typeof value !== 'string') throw new Error(`option --${name} has no value`);
  return value;
}

/** A duration flag: plain seconds ("30"), or with an "s" or "ms" suffix. Returns milliseconds. */
export function durationOption(values: OptionValues, name: string): number {
  const text = stringOption(values, name);
  const match = /^(\d+(?:\.\d+)?)(s|ms)?$/.exec(text.trim());
  if (!match) throw new InvalidInputError('arguments', `--${name}`, text, 'a duration in seconds, such as 30, 30s or 500ms');
  return match[2] === 'ms' ? Number(match[1]) : Number(match[1]) * 1000;
}
