import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { describe } from 'vitest';

/**
 * Command-line tools some tests run, with the Debian package that provides each (`.ci/run`
 * installs them). Like a missing server (servers.ts), a missing tool fails the file when
 * DATASYNC_REQUIRE_SERVERS=1 and marks it skipped otherwise, never a silent pass.
 */
const REQUIRE = process.env.DATASYNC_REQUIRE_SERVERS === '1';

/** A tool tests may need, by its command name. */
export type Tool = 'promtool' | 'chromium';

/** The Debian package to install when a tool is missing. */
const DEBIAN_PACKAGE: Record<Tool, string> = {
  promtool: 'prometheus',
  chromium: 'chromium',
};

/** The absolute path of `tool` on the PATH, or undefined when no executable of that name is there. */
export function toolPath(tool: Tool): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, tool);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/** `describe` for tests that run command-line tools: fails or skips (see above) when one is missing. */
export function describeWithTools(tools: readonly Tool[], name: string, body: () => void): void {
  const missing = tools.filter((tool) => toolPath(tool) === undefined);
  if (missing.length === 0) {
    describe(name, body);
    return;
  }
  const list = missing.map((tool) => `${tool} (Debian package ${DEBIAN_PACKAGE[tool]})`).join(', ');
  const fix = `install it: apt-get install --no-install-recommends ${missing.map((tool) => DEBIAN_PACKAGE[tool]).join(' ')}`;
  if (REQUIRE) throw new Error(`DATASYNC_REQUIRE_SERVERS=1 but ${list} is not on the PATH; ${fix} (.ci/run does).`);
  describe.skip(`${name} (skipped: ${list} not on the PATH; ${fix})`, body);
}
