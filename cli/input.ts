// Input files for the CLI: JSON or YAML, and "-" for stdin.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { InvalidInputError } from '../api/errors.ts';

/** Far above any VMI, domain or network-info; it only stops a wrong file early. */
const MAX_INPUT_BYTES = 16 * 1024 * 1024;

export async function readInput(path: string, what: string): Promise<string> {
  let data: Buffer;
  try {
    data = path === '-' ? await readStream(process.stdin) : await readFile(path);
  } catch (error) {
    throw new InvalidInputError(what, path, (error as NodeJS.ErrnoException).code ?? (error as Error).message, 'a readable file');
  }
  if (data.length > MAX_INPUT_BYTES) throw new InvalidInputError(what, path, `${data.length} bytes`, `at most ${MAX_INPUT_BYTES} bytes`);
  return data.toString('utf8');
}

async function readStream(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    size += buffer.length;
    if (size > MAX_INPUT_BYTES) break;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** A JSON or YAML document (YAML 1.2 reads JSON too). */
export async function readDocument(path: string, what: string): Promise<unknown> {
  const text = await readInput(path, what);
  try {
    return parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (error) {
    throw new InvalidInputError(what, path, (error as Error).message.split('\n')[0], 'a JSON or YAML document');
  }
}
