import 'reflect-metadata';
import { Container, ContainerModule } from 'inversify';
import { describe, expect, it } from 'vitest';
import { CommandContribution, TargetContribution } from '../../common/plugin-api.js';
import { TOKENS } from '../../common/tokens.js';
import { createCoreModule } from '../runtime/core-module.js';
import { EngineHooks } from '../../common/hooks.js';
import { nullLogger } from '../../common/logger.js';
import type { CommandRegistry, TargetRegistry } from './registries.js';

function container(...modules: ContainerModule[]): Container {
  const c = new Container();
  c.loadSync(createCoreModule({ config: {} as any, configPath: '/x/config.json', dataDir: '/x', logger: nullLogger, hooks: new EngineHooks(), plugins: {} as any, options: {} }), ...modules);
  return c;
}

const fake = (type: string): TargetContribution => ({ type, create: () => ({}) as any });

describe('registries', () => {
  it('no contribution at all is an empty registry, not an error', () => {
    const targets = container().get<TargetRegistry>(TOKENS.TargetRegistry);
    expect(targets.all()).toEqual([]);
    expect(targets.get('s3')).toBeUndefined();
    expect(() => targets.require('s3')).toThrow("no target type 's3' is available (known: none)");
  });

  it('collects every binding of the contribution symbol, from several modules', () => {
    const a = new ContainerModule(({ bind }) => void bind(TargetContribution).toConstantValue(fake('hdd')));
    const b = new ContainerModule(({ bind }) => void bind(TargetContribution).toConstantValue(fake('s3')));
    const c = container(a, b);
    const targets = c.get<TargetRegistry>(TOKENS.TargetRegistry);
    expect(targets.keys()).toEqual(['hdd', 's3']);
    expect(targets.get('s3')?.type).toBe('s3');
    expect(c.get(TOKENS.TargetRegistry)).toBe(targets); // singleton
  });

  it('register returns a Disposable that removes it again; duplicates are refused', async () => {
    const targets = container().get<TargetRegistry>(TOKENS.TargetRegistry);
    const d = targets.register(fake('ftp'));
    expect(targets.has('ftp')).toBe(true);
    expect(() => targets.register(fake('ftp'))).toThrow("target type 'ftp' is contributed twice");
    await d.dispose();
    expect(targets.has('ftp')).toBe(false);
  });

  it('commands are keyed by their first word', () => {
    const m = new ContainerModule(({ bind }) => void bind(CommandContribution).toConstantValue({ command: 'presets [name]', describe: 'x', handler: async () => 0 } satisfies CommandContribution));
    expect(container(m).get<CommandRegistry>(TOKENS.CommandRegistry).get('presets')?.command).toBe('presets [name]');
  });
});
