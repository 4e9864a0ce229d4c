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

  it('docs/transports.md shows the memory transport conformance file as it is', () => {
    const doc = readFileSync(new URL('../../docs/transports.md', import.meta.url), 'utf8');
    const file = readFileSync(new URL('../conformance/memory.test.ts', import.meta.url), 'utf8');
    const shown = /<!-- conformance-example:start -->\n```ts\n([\s\S]*?)```\n<!-- conformance-example:end -->/.exec(doc)?.[1];
    expect(shown).toBe(file);
  });
});
