// Query-string parameters, validated with the parameter named in the error.

import { SplError } from '../kernel/errors.js';

export function intParam(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) throw new SplError('INVALID_REQUEST', `${name} must be an integer from ${min} to ${max}`, { field: name });
  const n = Number(value);
  if (n < min || n > max) throw new SplError('INVALID_REQUEST', `${name} must be an integer from ${min} to ${max}`, { field: name });
  return n;
}

export function stringParam(value: unknown, name: string, check?: (s: string) => boolean, expected?: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || (check && !check(value))) {
    throw new SplError('INVALID_REQUEST', `${name} must be ${expected ?? 'a single string'}`, { field: name });
  }
  return value;
}
