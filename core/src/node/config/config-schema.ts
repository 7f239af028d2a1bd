import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { assembleFromParts, type CoreSchemaParts, type SchemaContributions } from './schema-assemble.js';
import { ON_PATTERN } from '../../common/notify.js';
import type { DrillConfig, FilterConfig, JobConfig, NotifierConfig, PresetDefinition, ScheduleConfig, SourceConfig } from '../../common/config-types.js';

/**
 * The JSON Schema of config.json — one source of truth for the types (`Static<>`), validation (ajv)
 * and `config/schema.json` (`assembleSchema` + `scripts/gen-schema.mjs`). The core owns the keys
 * below; each target and notifier type's keys come from the `configSchema` its plugin's manifest
 * names, plugged in by `assembleSchema` without running plugin code.
 */
const Str = (description?: string) => Type.String(description ? { description } : {});
const StrList = (description?: string) => Type.Array(Type.String(), description ? { description } : {});
const Size = (description: string) =>
  Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*(B|KB|MB|GB|TB)?\\s*$' })], {
    description,
    'x-expected': 'a number of bytes or a size such as "500MB" or "30GB"',
  });
/** A string from a fixed list (a plain `enum`, which gives one clear error instead of one per literal). */
const StringEnum = <T extends string>(values: readonly T[], options: Record<string, unknown> = {}) => Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });
const TIME = '^([01]?\\d|2[0-3]):[0-5]\\d$';
const DURATION = '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h)\\s*$';

export const SourceSchema = Type.Object(
  {
    path: Type.Optional(Str('A local folder (`~` is expanded).')),
    preset: Type.Optional(Str('A category preset: built-in (documents, pictures, …) or one defined under "presets".')),
    name: Type.Optional(Str('Top-level folder name for this source on the target (default: the folder\'s own name).')),
    include: Type.Optional(StrList('Globs relative to the source folder: only matching files are backed up.')),
    exclude: Type.Optional(StrList('Globs relative to the source folder that are never backed up.')),
  },
  { additionalProperties: false, description: 'A folder (`path`) or a category preset (`preset`).' },
);

export const FilterSchema = Type.Object(
  {
    include: Type.Optional(StrList('Globs relative to each source root; when present only matching files are backed up.')),
    exclude: Type.Optional(StrList('Globs relative to each source root that are never backed up.')),
    extensions: Type.Optional(StrList('Only files with these extensions (without the dot).')),
    excludeExtensions: Type.Optional(StrList('Never files with these extensions (without the dot).')),
    includeRegex: Type.Optional(StrList('Regular expressions over the relative path: only matching files.')),
    excludeRegex: Type.Optional(StrList('Regular expressions over the relative path: never matching files.')),
    largerThan: Type.Optional(Size('Skip files larger than this (bytes, or "30GB", "500MB").')),
    modifiedBefore: Type.Optional(Type.String({ format: 'date', description: 'Skip files last modified before this date (YYYY-MM-DD).' })),
    hidden: Type.Optional(Type.Boolean({ description: 'Back up hidden files (names starting with `.`); off by default.' })),
    plugins: Type.Optional(
      Type.Array(Type.Object({ name: Str('A filter contributed by a plugin.'), options: Type.Optional(Type.Unknown()) }, { additionalProperties: false })),
    ),
  },
  { additionalProperties: false },
);

const ScheduleBase = {
  daily: Type.Optional(
    Type.Union([Type.Boolean(), Type.String({ pattern: TIME })], { description: 'Every day: `true` with `at`, or the time itself ("23:00").', 'x-expected': 'true, or a time of day such as "23:00"' }),
  ),
  weekly: Type.Optional(Type.Array(StringEnum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const), { description: 'These weekdays at `at`.' })),
  monthly: Type.Optional(Type.Integer({ minimum: 1, maximum: 31, description: 'This day of the month at `at`.' })),
  at: Type.Optional(Type.String({ pattern: TIME, description: 'Time of day, HH:MM (24 h, local time).', 'x-expected': 'a time of day such as "23:00"' })),
  every: Type.Optional(Type.String({ pattern: '^\\d*[1-9]\\d*\\s*(m|min|minutes?|h|hours?)$', description: 'Every N minutes or hours: "30m", "2h".', 'x-expected': 'a period such as "30m" or "2h"' })),
  cron: Type.Optional(Str('A cron expression (5 or 6 fields).')),
};

/** A job's restore drills: when (a schedule's times, with `every` in days too) and how big a sample. */
export const DrillSchema = Type.Object(
  {
    ...ScheduleBase,
    every: Type.Optional(Type.String({ pattern: '^\\d*[1-9]\\d*\\s*(m|min|minutes?|h|hours?|d|days?)$', description: 'Every N minutes, hours or days: "7d", "12h" (a drill with no time: every 7 days).', 'x-expected': 'a period such as "7d" or "12h"' })),
    sample: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*%\\s*$' })], {
        description: 'Files each drill restores from each target: a count (200) or a percentage of the files the target holds ("2%"). Default 100.',
        'x-expected': 'a number of files such as 200, or a percentage such as "2%"',
      }),
    ),
  },
  { additionalProperties: false, description: 'Restore drills: a random sample of the job\'s files restored from each target into a temporary folder under the data folder, every SHA-256 checked against the index and the source (where unchanged), then removed; recorded as a restore run (`drill`).' },
);

export const ScheduleSchema = Type.Object(
  {
    ...ScheduleBase,
    pause: Type.Optional(
      Type.Object({ from: Type.String({ pattern: TIME, 'x-expected': 'a time of day such as "08:00"' }), to: Type.String({ pattern: TIME, 'x-expected': 'a time of day such as "18:00"' }) }, { additionalProperties: false, description: 'A window (may cross midnight) in which a running backup is suspended.' }),
    ),
    full: Type.Optional(Type.Object(ScheduleBase, { additionalProperties: false, description: 'A separate schedule for full runs that re-check every file.' })),
    catchUp: Type.Optional(Type.Boolean({ description: 'A scheduled run missed (agent not running, machine asleep, paused) runs once at start or when the pause ends, instead of being recorded `not-executed`.' })),
  },
  { additionalProperties: false },
);

const ID = '^[A-Za-z0-9][A-Za-z0-9._-]*$';
const ID_EXPECTED = 'an id made of letters, digits, ".", "_" and "-"';

export const JobSchema = Type.Object(
  {
    id: Type.String({ pattern: ID, description: 'The job\'s id (letters, digits, `.`, `_`, `-`).', 'x-expected': ID_EXPECTED }),
    sources: Type.Array(SourceSchema, { minItems: 1 }),
    targets: Type.Array(Type.String(), { minItems: 1, description: 'Ids of targets (keys of "targets").' }),
    schedule: Type.Optional(ScheduleSchema),
    timezone: Type.Optional(Str('The IANA time zone of the schedule ("Asia/Tokyo"); default: the machine\'s.')),
    watch: Type.Optional(Type.Boolean({ description: 'Back up changes within seconds while the agent runs.' })),
    generations: Type.Optional(Type.Integer({ minimum: 0, description: 'Older versions kept per file; 0 = mirror. Default 10.' })),
    filters: Type.Optional(FilterSchema),
    deletions: Type.Optional(StringEnum(['every-run', 'monthly', 'never'] as const, { description: 'Propagate source deletions every run (default), on the first run of the month, or never.' })),
    deletionThreshold: Type.Optional(
      Type.Object(
        { percent: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })), count: Type.Optional(Type.Integer({ minimum: 0 })) },
        { additionalProperties: false, description: 'A run that would delete more than this stops and reports instead (default 50 % or 1000 files).' },
      ),
    ),
    keepDeletedDays: Type.Optional(Type.Integer({ minimum: 0, description: 'Keep deleted files this many days.' })),
    drill: Type.Optional(DrillSchema),
    spotCheck: Type.Optional(Type.Integer({ minimum: 0, description: 'Files each run checks on every target (picked at random among those it did not send: there, and of the right size); a missing or damaged one is sent again in the same run. Default 20; 0 turns it off.' })),
    onTargetReset: Type.Optional(
      Type.Union([Type.Literal('resend'), Type.Literal('refuse')], { description: 'A target wiped or replaced since the last backup: send everything again ("resend", default) or stop with target-reset ("refuse").' }),
    ),
    followSymlinks: Type.Optional(Type.Boolean({ description: 'Follow symbolic links (default: record them only).' })),
    ignoreInode: Type.Optional(Type.Boolean({ description: 'Do not treat an inode change as a file change (network mounts).' })),
    ignoreCtime: Type.Optional(Type.Boolean({ description: 'Do not treat a ctime change as a file change.' })),
    maxFileSize: Type.Optional(Size('Largest file backed up; larger ones are recorded `file-too-large`.')),
    maxPathLength: Type.Optional(Type.Integer({ minimum: 1, description: 'Longest path a target may hold (default 1024).' })),
    forbiddenChars: Type.Optional(Str('Characters a name may not contain on this job\'s targets.')),
    verifyTargetListing: Type.Optional(Type.Boolean({ description: 'Re-upload files the target lacks (costs a listing).' })),
    notify: Type.Optional(Type.Array(Type.String(), { description: 'Ids of notifiers for this job (default: all).' })),
  },
  { additionalProperties: false },
);

export const PresetDefinitionSchema = Type.Object(
  {
    title: Type.Optional(Str()),
    extends: Type.Optional(Str('A preset this one adds to (a built-in one such as "office", or one defined here): its folders, extensions and excludes come first.')),
    folders: Type.Optional(StrList('Folders (`~` is expanded).')),
    extensions: Type.Optional(StrList('Extensions without the dot.')),
    exclude: Type.Optional(StrList('Globs never backed up.')),
  },
  { additionalProperties: false },
);

/** Keys every target has, whatever its type. */
export const TargetBaseProperties = {
  type: Type.String({ description: 'The target type (provided by a plugin: hdd, nas, s3, azure, …).' }),
  maxConnections: Type.Optional(Type.Integer({ minimum: 1, description: 'Transfers at once against this target.' })),
  rotate: Type.Optional(Type.Boolean({ description: 'Disks used in turn at this place (one kept off-site): each keeps its own state, and a backup sends what changed since that disk\'s own last run. Without it, another disk here is a reset (onTargetReset).' })),
};
export const TargetBaseSchema = Type.Object(TargetBaseProperties, { additionalProperties: true });

/** Keys every notifier has, whatever its type. */
export const NotifierBaseProperties = {
  id: Type.Optional(Type.String({ pattern: ID, description: 'The notifier\'s id (for `notify test ID` and a job\'s "notify").' })),
  type: Type.String({ description: 'The notifier type (provided by a plugin: smtp, …).' }),
  on: Type.Optional(
    Type.Array(Type.String({ pattern: ON_PATTERN, 'x-expected': '"failure", "success", "monthly" or "stale:Nd" (e.g. "stale:3d")' }), {
      description: 'When to send: "failure" (the default: every backup that is not completed), "success", "stale:Nd" (no completed backup for N days; repeated daily, "back to normal" once), "monthly" (space used per target, first run of the month).',
    }),
  ),
  digest: Type.Optional(Type.Boolean({ description: 'One message for the runs of a batch (an `agent backup` of several jobs) instead of one per run.' })),
};
export const NotifierBaseSchema = Type.Object(NotifierBaseProperties, { additionalProperties: true });

export const ConfigSchema = Type.Object(
  {
    $schema: Type.Optional(Str('The JSON Schema of this file (for editors).')),
    device: Type.Optional(Type.String({ minLength: 1, description: 'This machine\'s name on the targets (default: the host name).' })),
    plugins: Type.Optional(Type.Array(Type.String(), { description: 'Plugins to load: package names or paths relative to this file (default: the six built-in plugins).' })),
    targets: Type.Record(Type.String({ pattern: ID }), TargetBaseSchema, { description: 'Where backups go, by id.' }),
    jobs: Type.Array(JobSchema, { description: 'What is backed up where, and when.' }),
    notify: Type.Optional(Type.Array(NotifierBaseSchema, { description: 'Who is told about runs, and how.' })),
    presets: Type.Optional(Type.Record(Type.String({ pattern: ID }), PresetDefinitionSchema, { description: 'User-defined category presets, by name.' })),
    maxConcurrentJobs: Type.Optional(Type.Integer({ minimum: 1, description: 'Runs (scheduled, watched, or asked for) the daemon lets run at once; the rest wait in order. Default 1.' })),
    watchSettle: Type.Optional(Type.String({ pattern: DURATION, description: 'Watched jobs: how long changes must settle before they are backed up (default "2s").', 'x-expected': 'a duration such as "2s" or "500ms"' })),
    watchMaxDelay: Type.Optional(Type.String({ pattern: DURATION, description: 'Watched jobs: the longest a change waits under a stream of changes that never settles (default "30s").', 'x-expected': 'a duration such as "30s"' })),
    watchFallbackEvery: Type.Optional(Type.String({ pattern: DURATION, description: 'Watched jobs the system cannot watch (its limit on watches reached): a full scan this often instead (default "15m").', 'x-expected': 'a duration such as "15m"' })),
  },
  { additionalProperties: false },
);

export type ConfigInput = Static<typeof ConfigSchema>;
export type JobInput = Static<typeof JobSchema>;

// Compile-time checks that the schema's types stay assignable to the engine's interfaces.
type Assert<T extends true> = T;
type Extends<A, B> = [A] extends [B] ? true : false;
export type _SchemaChecks = [
  Assert<Extends<Static<typeof SourceSchema>, SourceConfig>>,
  Assert<Extends<Static<typeof FilterSchema>, FilterConfig>>,
  Assert<Extends<Static<typeof ScheduleSchema>, ScheduleConfig>>,
  Assert<Extends<Static<typeof DrillSchema>, DrillConfig>>,
  Assert<Extends<Static<typeof PresetDefinitionSchema>, PresetDefinition>>,
  Assert<Extends<Static<typeof NotifierBaseSchema>, NotifierConfig>>,
  Assert<Extends<Omit<JobInput, 'generations' | 'filters' | 'deletions' | 'deletionThreshold' | 'followSymlinks' | 'ignoreInode' | 'ignoreCtime'>, Partial<JobConfig>>>,
];

// ---------------------------------------------------------------------------------------------
// Assembling the schema from the plugins' manifests.
// ---------------------------------------------------------------------------------------------

/** The core's schemas as plain JSON (what `core/schema/core-schema.json` holds). */
export function coreSchemaParts(): CoreSchemaParts {
  const json = (x: unknown) => JSON.parse(JSON.stringify(x)) as Record<string, any>;
  return { config: json(ConfigSchema), targetBase: json(TargetBaseSchema), notifierBase: json(NotifierBaseSchema), idPattern: ID };
}

/**
 * One JSON Schema for config.json: the core's keys, plus each contributed target and notifier
 * type's schema, selected by `type`.
 */
export function assembleSchema(contrib: SchemaContributions): Record<string, unknown> {
  return assembleFromParts(coreSchemaParts(), contrib);
}

export type { ContributedType, SchemaContributions } from './schema-assemble.js';
