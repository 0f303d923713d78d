// The names of every file a backup writes, reads or cleans up, each with its builder and its pattern.

/** The startup backup: the most complete good copy, at a name the runbook's `cp` can rely on. */
export const STARTUP_BACKUP = 'hub.db.bak';

/** Where a startup backup is written before it is judged against STARTUP_BACKUP. */
export const FRESH_STARTUP_BACKUP = `${STARTUP_BACKUP}.new`;

/** The UTC second `at` falls in, as `YYYYMMDD-HHMMSS`: what names a generation and an off-host set. */
export function backupStamp(at: number): string {
  const d = new Date(at);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** A startup backup kept beside STARTUP_BACKUP: `hub.db.<stamp>.bak`, `-<copy>` added for a later one in the same second. */
export function generationName(at: number, copy = 0): string {
  return `hub.db.${backupStamp(at)}${copy > 0 ? `-${copy}` : ''}.bak`;
}

export const GENERATION = /^hub\.db\.\d{8}-\d{6}(-\d+)?\.bak$/;

/** The three files of one off-host set (`spl backup create`), all named by the set's stamp. */
export const offhostStoreName = (stamp: string): string => `hub.db.${stamp}.bak`;
export const dataArchiveName = (stamp: string): string => `syncro-data.${stamp}.tar.gz`;
export const manifestName = (stamp: string): string => `manifest.${stamp}.json`;

export const OFFHOST_STORE = /^hub\.db\.\d{8}-\d{6}\.bak$/;
const SET_FILE = /^(?:hub\.db\.(\d{8}-\d{6})\.bak|syncro-data\.(\d{8}-\d{6})\.tar\.gz|manifest\.(\d{8}-\d{6})\.json)$/;

/** The stamp of the set a file name belongs to; undefined for any other name. */
export function setStamp(name: string): string | undefined {
  const m = SET_FILE.exec(name);
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
}

/** The stamp in a path ending in a set's store copy, whatever precedes `hub.db.` (its manifest sits beside it). */
export function storeCopyStamp(path: string): string | undefined {
  return /hub\.db\.(\d{8}-\d{6})\.bak$/.exec(path)?.[1];
}

/**
 * What doctor counts as an off-host copy: any `hub.db.*.bak` and any `syncro-data.*.tar.gz`, not only a set's
 * stamped names, so a copy made by hand (the runbook's `hub.db.pre-upgrade.<epoch>.bak`) counts too.
 */
export const ANY_STORE_COPY = /^hub\.db\..+\.bak$/;
export const ANY_DATA_ARCHIVE = /^syncro-data\..+\.tar\.gz$/;

/** A file written under this name and renamed into place once whole, so a killed writer never leaves one that looks whole. */
export function temporaryName(file: string, pid = process.pid): string {
  return `${file}.tmp-${pid}`;
}

/** The pid that wrote a temporary file (or SQLite's -journal, -wal, -shm beside one); undefined for any other name. */
export function temporaryOwner(name: string): number | undefined {
  const m = /\.tmp-(\d+)(?:-journal|-wal|-shm)?$/.exec(name);
  return m ? Number(m[1]) : undefined;
}
