import 'reflect-metadata';
import { inject, injectable } from 'inversify';
import { Disposable } from '../../common/disposable.js';
import { HokanError } from '../../common/errors.js';
import {
  CommandContribution,
  FilterContribution,
  NotifierContribution,
  PresetContribution,
  TargetContribution,
} from '../../common/plugin-api.js';
import { contributionProviderToken } from '../../common/tokens.js';
import type { ContributionProvider } from './contribution-provider.js';

/**
 * A registry of contributions keyed by a name (a target type, a preset name, a command name).
 * Filled from the contributions bound in the container the first time it is read; `register`
 * adds one more at run time and hands back a Disposable that removes it again.
 */
export abstract class ContributionRegistry<T> {
  private readonly items = new Map<string, T>();
  private filled = false;
  /** What one entry is called in messages ("target type", "preset"). */
  protected abstract readonly kind: string;

  constructor(private readonly provider: ContributionProvider<T> | undefined) {}

  protected abstract keyOf(contribution: T): string;

  private fill(): void {
    if (this.filled) return;
    this.filled = true;
    for (const c of this.provider?.getContributions() ?? []) this.add(c);
  }

  private add(contribution: T): string {
    const key = this.keyOf(contribution);
    if (this.items.has(key)) throw new HokanError('E_DUPLICATE_CONTRIBUTION', `${this.kind} '${key}' is contributed twice`, { hint: 'two plugins provide the same name: remove one of them from "plugins"' });
    this.items.set(key, contribution);
    return key;
  }

  register(contribution: T): Disposable {
    this.fill();
    const key = this.add(contribution);
    return Disposable.create(() => {
      if (this.items.get(key) === contribution) this.items.delete(key);
    });
  }

  get(key: string): T | undefined {
    this.fill();
    return this.items.get(key);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** Like `get`, but a missing entry is an error that lists the known ones. */
  require(key: string): T {
    const c = this.get(key);
    if (c) return c;
    const known = this.keys();
    throw new HokanError('E_UNKNOWN_CONTRIBUTION', `no ${this.kind} '${key}' is available (known: ${known.length ? known.join(', ') : 'none'})`, {
      hint: 'add the plugin that provides it to "plugins" in config.json',
    });
  }

  keys(): string[] {
    this.fill();
    return [...this.items.keys()];
  }

  all(): T[] {
    this.fill();
    return [...this.items.values()];
  }
}

@injectable()
export class TargetRegistry extends ContributionRegistry<TargetContribution> {
  protected readonly kind = 'target type';
  constructor(@inject(contributionProviderToken(TargetContribution)) provider: ContributionProvider<TargetContribution>) {
    super(provider);
  }
  protected keyOf(c: TargetContribution): string {
    return c.type;
  }
}

@injectable()
export class NotifierRegistry extends ContributionRegistry<NotifierContribution> {
  protected readonly kind = 'notifier type';
  constructor(@inject(contributionProviderToken(NotifierContribution)) provider: ContributionProvider<NotifierContribution>) {
    super(provider);
  }
  protected keyOf(c: NotifierContribution): string {
    return c.type;
  }
}

@injectable()
export class PresetRegistry extends ContributionRegistry<PresetContribution> {
  protected readonly kind = 'preset';
  constructor(@inject(contributionProviderToken(PresetContribution)) provider: ContributionProvider<PresetContribution>) {
    super(provider);
  }
  protected keyOf(c: PresetContribution): string {
    return c.name;
  }
}

@injectable()
export class FilterRegistry extends ContributionRegistry<FilterContribution> {
  protected readonly kind = 'filter';
  constructor(@inject(contributionProviderToken(FilterContribution)) provider: ContributionProvider<FilterContribution>) {
    super(provider);
  }
  protected keyOf(c: FilterContribution): string {
    return c.name;
  }
}

/** The first word of a yargs command string: `presets [name]` → `presets`. */
export function commandName(command: string): string {
  return command.trim().split(/\s+/)[0] ?? command;
}

@injectable()
export class CommandRegistry extends ContributionRegistry<CommandContribution> {
  protected readonly kind = 'command';
  constructor(@inject(contributionProviderToken(CommandContribution)) provider: ContributionProvider<CommandContribution>) {
    super(provider);
  }
  protected keyOf(c: CommandContribution): string {
    return commandName(c.command);
  }
}
