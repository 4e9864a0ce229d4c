import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as datasync from 'datasync';

describe('package entry points', () => {
  it('exports the main API from the package root', () => {
    for (const name of ['defineTopic', 'createEnvelope', 'defineService', 'on', 'onBatch', 'startConsumer', 'createProducer', 'migrate', 'startRelay', 'OutboxWriter', 'applyIfNewer', 'createRetryRunner', 'SyncError', 'PermanentError']) {
      expect(datasync, name).toHaveProperty(name);
    }
  });

  it('has a source file behind every subpath export', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { exports: Record<string, string> };
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      const source = target.replace('./dist/', '../../src/').replace(/\.js$/, '.ts');
      expect(() => readFileSync(new URL(source, import.meta.url)), `${subpath} → ${source}`).not.toThrow();
    }
  });
});
