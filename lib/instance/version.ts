// The binary's version, read once from the package manifest that ships beside dist/.

import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function splVersion(): string {
  if (cached === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    cached = pkg.version;
  }
  return cached;
}
