// How doctor writes sizes, ages and file modes in its sentences.

export { formatAge, plural } from '../kernel/text.js';

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function formatMode(mode: number): string {
  return '0' + (mode & 0o777).toString(8).padStart(3, '0');
}
