import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/core/errors.js';

describe('docs/errors.md', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);

  it('lists every error code exactly once, and nothing else', () => {
    expect([...documented].sort()).toEqual(Object.keys(ERROR_CODES).sort());
    expect(new Set(documented).size).toBe(documented.length);
  });
});
