import { describe, expect, it } from 'vitest';
// @ts-expect-error — a plain .mjs script without types (scripts/check-imports.mjs)
import { checkImports } from '../../scripts/check-imports.mjs';

describe('the map of core/src (docs/design.md)', () => {
  it('every import keeps to the map, no module imports node: in common/, the core imports no plugin, and there is no import cycle', () => {
    expect(checkImports()).toEqual([]);
  });
});
