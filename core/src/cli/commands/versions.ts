import type { BuiltinCommand } from '../command.js';

export const versionsCommand: BuiltinCommand = {
  command: 'versions <path>',
  describe: 'The generations of one file on each target, and which runs no longer restore it',
  builder: (y) =>
    y
      .positional('path', { type: 'string', demandOption: true, describe: 'The file at the source: absolute, or relative to its source folder' })
      .option('job', { type: 'string', demandOption: true, describe: 'The job' })
      .option('target', { type: 'string', describe: 'Only this target' }),
  handler: async (args, ctx) => {
    const { withEngine } = await import('../engine-cli.js');
    const { fileHistory } = await import('../../node/engine/restore.js');
    const { formatBytes, formatDate } = await import('../../common/units.js');
    return withEngine(ctx, async (deps) => {
      const { versions, pruned } = await fileHistory(deps, String(args.job), String(args.path), args.target as string | undefined);
      if (ctx.output.json) {
        ctx.output.printJson({ versions, pruned });
        return 0;
      }
      if (!versions.length && !pruned.length) {
        ctx.output.error(`no backed-up versions of ${args.path} in job "${args.job}" (give the path at the source: absolute, or relative to its source folder)`);
        return 1;
      }
      for (const v of versions) {
        const state = v.current ? 'current' : v.deleted ? `deleted at the source (run ${v.deleted})` : 'older';
        ctx.output.print(`${v.target}  ${formatDate(v.time)}  ${v.v}  ${formatBytes(v.size)}  modified ${formatDate(v.mtime)}  ${v.link !== undefined ? `-> ${v.link}` : v.folder ? 'folder' : `sha256 ${v.sha256.slice(0, 12)}`}  ${state}`);
      }
      // Said, so nobody looks for a version retention has dropped (issue 30).
      for (const p of pruned) {
        ctx.output.print(`${p.target}  pruned: the versions of runs from ${formatDate(p.fromTime)} until ${formatDate(p.untilTime)} are no longer kept (${p.rule})`);
      }
      return 0;
    });
  },
};
