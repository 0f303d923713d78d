// Integrity checks: quick_check on every open, integrity_check on demand.

import type { Database } from './database.js';

/** Returns the problems SQLite reports; an empty list means the store is sound. */
export async function quickCheck(db: Database): Promise<string[]> {
  return check(db, 'quick_check');
}

export async function integrityCheck(db: Database): Promise<string[]> {
  return check(db, 'integrity_check');
}

async function check(db: Database, pragma: 'quick_check' | 'integrity_check'): Promise<string[]> {
  const rows = await db.all<Record<string, string>>(`PRAGMA ${pragma}`);
  const lines = rows.map((r) => String(Object.values(r)[0]));
  return lines.length === 1 && lines[0] === 'ok' ? [] : lines;
}
