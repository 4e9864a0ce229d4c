import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ArgumentError } from '../core/errors.js';

/**
 * Imports a module of the user's project named by a CLI option (`--contracts`, `--platform`):
 * a TypeScript one through tsx when the CLI itself does not run under tsx. An ArgumentError
 * names the option when the file is missing or TypeScript cannot be loaded.
 */
export async function loadProjectModule(file: string, option: string, expected: string): Promise<Record<string, unknown>> {
  const modulePath = path.resolve(file);
  if (!existsSync(modulePath)) throw new ArgumentError(option, file, expected);
  if (/\.[mc]?ts$/.test(modulePath) && !process.execArgv.join(' ').includes('tsx')) {
    try {
      const { register } = await import('tsx/esm/api');
      register();
    } catch {
      throw new ArgumentError(option, file, 'a JavaScript module, or a TypeScript one with tsx installed (npm install --save-dev tsx)');
    }
  }
  return (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
}
