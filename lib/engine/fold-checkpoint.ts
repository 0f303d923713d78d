// Fold checkpoints: every fold's state, the sequence it covers and what made it, written to one file so that a
// start-up loads it and replays only the records after it instead of re-deriving everything from the store.
//
// The file is a JSON header line and a v8-serialized payload (Maps, Sets and shared references survive as they
// are). The header names the format, the binary's version, each fold's fingerprint (its declared version and the
// source of its init and apply: a fold whose code changed does not match), the sequence covered with the ids of
// the first record and of the record at that sequence, and the payload's sha256. A checkpoint is used only when
// every one of these matches the binary and the store; otherwise the caller rebuilds from the store in full and
// says why. It is written to a temporary file, fsynced and renamed over the last one (0600), so a crash leaves
// the old checkpoint or the new one, never half of one — and a missing checkpoint only costs a full rebuild.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { deserialize, serialize } from 'node:v8';
import type { FoldFault } from '../kernel/wire.js';
import type { Fold } from './fold.js';

const FORMAT = 1;

export interface CheckpointHeader {
  format: number;
  /** The binary that wrote it. */
  code: string;
  /** Every fold's fingerprint, by name. */
  folds: Record<string, string>;
  /** The last record folded in, and the first record of the store (both checked against the store on load). */
  sequence: number;
  record: string;
  first: string;
  sha256: string;
  bytes: number;
  written_at: string;
}

/** What a checkpoint holds: each fold's state by name, and the faults each broken fold had met. */
export interface CheckpointPayload {
  states: Record<string, unknown>;
  faults: Record<string, { count: number; first: FoldFault[] }>;
}

/** A fold's identity for checkpoints: name, declared version, and the source of init and apply. */
export function foldFingerprint(f: Fold<unknown>): string {
  return createHash('sha256').update(`${f.name}\0${f.version ?? 1}\0${String(f.init)}\0${String(f.apply)}`).digest('hex').slice(0, 16);
}

export function fingerprints(folds: ReadonlyArray<Fold<unknown>>): Record<string, string> {
  return Object.fromEntries(folds.map((f) => [f.name, foldFingerprint(f)]));
}

/** Header line + payload, as written to disk. */
export function encodeCheckpoint(h: Omit<CheckpointHeader, 'format' | 'sha256' | 'bytes'>, payload: CheckpointPayload): Buffer {
  const body = serialize(payload);
  const header: CheckpointHeader = { format: FORMAT, ...h, sha256: createHash('sha256').update(body).digest('hex'), bytes: body.length };
  return Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), body]);
}

/** `damaged`: the file itself is bad (unreadable, a broken header or payload), not merely from another binary or fold version. */
export type Decoded = { ok: true; header: CheckpointHeader; payload: CheckpointPayload } | { ok: false; reason: string; damaged: boolean };

/** Reads and checks a checkpoint file against the binary and its folds (the store is checked by the caller). */
export function readCheckpoint(path: string, code: string, folds: ReadonlyArray<Fold<unknown>>): Decoded | undefined {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { ok: false, reason: `it cannot be read: ${(err as Error).message}`, damaged: true };
  }
  const nl = raw.indexOf(0x0a);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(raw.subarray(0, nl < 0 ? raw.length : nl).toString('utf8')) as CheckpointHeader;
  } catch {
    return { ok: false, reason: 'its header is not JSON', damaged: true };
  }
  const problem = headerProblem(header, code, folds);
  if (problem) return { ok: false, reason: problem, damaged: false };
  const body = raw.subarray(nl + 1);
  if (body.length !== header.bytes || createHash('sha256').update(body).digest('hex') !== header.sha256) {
    return { ok: false, reason: `its payload fails its sha256 (${body.length} of ${header.bytes} bytes)`, damaged: true };
  }
  try {
    return { ok: true, header, payload: deserialize(body) as CheckpointPayload };
  } catch (err) {
    return { ok: false, reason: `its payload cannot be read: ${(err as Error).message}`, damaged: true };
  }
}

function headerProblem(h: CheckpointHeader, code: string, folds: ReadonlyArray<Fold<unknown>>): string | undefined {
  if (h.format !== FORMAT) return `it has format ${String(h.format)}, and this binary reads ${FORMAT}`;
  if (h.code !== code) return `it was written by spl ${String(h.code)}, and this is ${code}`;
  if (!Number.isInteger(h.sequence) || h.sequence < 1) return `its sequence ${String(h.sequence)} is not a record's`;
  const want = fingerprints(folds);
  const have = h.folds ?? {};
  const changed = Object.keys({ ...want, ...have }).filter((n) => want[n] !== have[n]);
  if (changed.length > 0) return `fold version changed: ${changed.sort().join(', ')}`;
  return undefined;
}

/** Writes the checkpoint so a crash leaves the old one or the new one: temp file, fsync, rename, fsync of the directory. */
export async function writeCheckpointFile(path: string, data: Buffer): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
