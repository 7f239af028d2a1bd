import type { ContainerModuleLoadOptions, ResolutionContext } from 'inversify';
import { contributionProviderToken } from '../../common/tokens.js';

/**
 * Theia-style contribution provider: every binding of a contribution symbol, collected lazily.
 * Unlike raw `@multiInject`, no binding at all is fine (an empty list).
 */
export interface ContributionProvider<T> {
  getContributions(): T[];
}

export class ContainerContributionProvider<T> implements ContributionProvider<T> {
  private cached?: T[];
  constructor(
    private readonly context: Pick<ResolutionContext, 'getAll'>,
    private readonly contribution: symbol,
  ) {}

  getContributions(): T[] {
    if (!this.cached) this.cached = this.context.getAll<T>(this.contribution, { optional: true }) ?? [];
    return this.cached;
  }
}

/** Binds the provider of `contribution` under `contributionProviderToken(contribution)`. */
export function bindContributionProvider(bind: ContainerModuleLoadOptions['bind'], contribution: symbol): void {
  bind(contributionProviderToken(contribution))
    .toDynamicValue((ctx) => new ContainerContributionProvider(ctx, contribution))
    .inSingletonScope();
}
