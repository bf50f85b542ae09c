// The package's version, read from package.json (two levels up from both src/cli and dist/cli).
import * as fs from 'node:fs';

export const VERSION: string = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
