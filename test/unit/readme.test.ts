import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('is the code the README shows', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = readFileSync(new URL('../../examples/walkthrough.ts', import.meta.url), 'utf8');
    const shown = /<!-- walkthrough:start -->\n```ts\n([\s\S]*?)```\n<!-- walkthrough:end -->/.exec(readme)?.[1];
    expect(shown, 'README.md must show examples/walkthrough.ts between the walkthrough markers').toBeDefined();
    expect(shown).toBe(example);
  });
});
