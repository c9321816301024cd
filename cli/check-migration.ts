import { compareForMigration } from '../sidecar/migration-check.ts';
import { type Command, EXIT_ERROR, EXIT_OK } from './command.ts';
import { readInput } from './input.ts';

export const checkMigrationCommand: Command = {
  name: 'check-migration',
  positionals: 'SOURCE.xml TARGET.xml',
  description:
    'Checks count, alias, type, MAC, model, PCI address, ACPI index, queues, ring sizes and page_per_vq,\n' +
    'and that each source path is the stable device link, not /dev/vhost-vdpa-N. Exits 1 on any difference.\n' +
    'On a cluster: virsh dumpxml in the source and target virt-launcher compute containers during virtctl migrate.',
  options: {},
  async run(_values, positionals) {
    if (positionals.length !== 2) {
      process.stderr.write('check-migration: expected two arguments, SOURCE.xml and TARGET.xml; see --help\n');
      return EXIT_ERROR;
    }
    const [source, target] = await Promise.all([readInput(positionals[0]!, 'source domain XML'), readInput(positionals[1]!, 'target domain XML')]);
    const differences = compareForMigration(source, target);
    for (const difference of differences) {
      process.stdout.write(`${difference.interface}: ${difference.what}: source ${difference.source ?? '(none)'}, target ${difference.target ?? '(none)'}\n`);
    }
    if (differences.length === 0) process.stdout.write('no differences: the converted interfaces match for migration\n');
    return differences.length === 0 ? EXIT_OK : EXIT_ERROR;
  },
};
