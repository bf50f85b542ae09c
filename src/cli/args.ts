// Flag parsing shared by the commands: node:util parseArgs in strict mode, and numbers checked
// with a message naming the flag. A usage error exits with 2 and the command's usage; a failure
// while running exits with 1.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isAuroralError, ErrorCode } from '../errors.js';

export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;

type Parsed = { values: Record<string, string | boolean | string[] | boolean[] | undefined>; positionals: string[] };

export function parseFlags<O extends Options>(args: string[], options: O, positionals = 0):
  { values: ReturnType<typeof parseArgs<{ options: O & { help: { type: 'boolean' } } }>>['values']; positionals: string[] } {
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: positionals > 0, strict: true }) as Parsed;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (parsed.positionals.length > positionals) throw new UsageError(`unexpected argument '${parsed.positionals[positionals]}'`);
  return parsed as never;
}

export function intFlag(name: string, v: string | undefined, dflt: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max.toLocaleString('en-US')}, got '${v}'`);
  }
  return n;
}

export function numberFlag(name: string, v: string | undefined, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`--${name} must be a number from ${min} to ${max}, got '${v}'`);
  return n;
}

export function oneOfFlag<T extends string>(name: string, v: string | undefined, allowed: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!(allowed as readonly string[]).includes(v)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

/** Bad input found past flag parsing (a sweep path, an option value) is a usage error too. */
export function isUsageError(e: unknown): boolean {
  return e instanceof UsageError || (isAuroralError(e) && (e.code === ErrorCode.INVALID_ARGUMENT || e.code === ErrorCode.INVALID_OPTION));
}
