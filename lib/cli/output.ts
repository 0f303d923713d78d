// Rendering for people (aligned tables, key/value blocks) and for programs (-o json).

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function printTable(headers: string[], rows: Array<Array<string | number>>): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  for (const r of cells) {
    process.stdout.write(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n');
  }
}

export function printFields(fields: Array<[string, string | number | null | undefined]>): void {
  const width = Math.max(...fields.map(([k]) => k.length));
  for (const [k, v] of fields) process.stdout.write(`  ${k.padEnd(width)}  ${v ?? '-'}\n`);
}

export function formatDuration(secs: number): string {
  const d = Math.floor(secs / 86400);
  const h = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60);
  const s = secs % 60;
  return [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', `${s}s`].filter(Boolean).join(' ');
}

/** A one-line summary of a record body for listings. */
export function bodySummary(body: Record<string, unknown>, max = 60): string {
  const text = typeof body.text === 'string' ? body.text : typeof body.topic === 'string' ? `topic=${body.topic}${typeof body.name === 'string' ? ` name=${body.name}` : ''}` : JSON.stringify(body);
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}
