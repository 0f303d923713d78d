// The dispatch memory pre-flight through an injected meminfo/cgroup source: the runbook's three lines exactly, at
// their band edges; the cgroup's limit − usage when it is tighter than MemAvailable (v2 and v1 files); no figures
// at all; and the OOM-kill counter from memory.events (v2) or memory.oom_control (v1).

import t from 'tap';
import { bandOf, oomKills, preflight, readMemory, type MemorySource } from '../../lib/dispatch/memory.js';

const GIB = 1024 ** 3;
const meminfo = (bytes: number): string => `MemTotal:       24000000 kB\nMemFree:         1000000 kB\nMemAvailable:   ${Math.floor(bytes / 1024)} kB\nBuffers:          100 kB\n`;

function source(mem: string | undefined, cgroup: Record<string, string> = {}): MemorySource {
  return { meminfo: () => mem, cgroupFile: (name) => cgroup[name] };
}

t.test("the runbook's three lines, exactly, from MemAvailable", async (t) => {
  const healthy = preflight(source(meminfo(8.1 * GIB + 1024 * 1024)));
  t.equal(healthy.line, 'dispatch pre-flight: host memory healthy avail_gb=8.1');
  t.equal(healthy.level, 'debug');
  t.equal(healthy.band, 'healthy');
  const approaching = preflight(source(meminfo(3.25 * GIB)));
  t.equal(approaching.line, 'dispatch pre-flight: host approaching memory pressure avail_gb=3.2');
  t.equal(approaching.level, 'info');
  const critical = preflight(source(meminfo(1.45 * GIB)));
  t.equal(critical.line, 'dispatch pre-flight: host under memory pressure — OOM-kill risk; consider sequential dispatch avail_gb=1.4');
  t.equal(critical.level, 'warn');
  t.equal(critical.source, 'meminfo');
});

t.test('band edges: 4 GiB is healthy, just under is approaching (and never prints as 4.0); 2 GiB is approaching, just under is critical', async (t) => {
  t.equal(bandOf(4 * GIB), 'healthy');
  t.equal(bandOf(4 * GIB - 1), 'approaching');
  t.equal(bandOf(2 * GIB), 'approaching');
  t.equal(bandOf(2 * GIB - 1), 'critical');
  t.match(preflight(source(meminfo(4 * GIB - 1024))).line, /approaching memory pressure avail_gb=3\.9$/);
  t.match(preflight(source(meminfo(2 * GIB - 1024))).line, /OOM-kill risk; consider sequential dispatch avail_gb=1\.9$/);
});

t.test('a cgroup limit tighter than MemAvailable decides (v2 memory.max − memory.current)', async (t) => {
  const src = source(meminfo(20 * GIB), { 'memory.max': String(3 * GIB) + '\n', 'memory.current': String(1.5 * GIB) + '\n' });
  const m = readMemory(src);
  t.equal(m.source, 'cgroup');
  t.equal(m.availBytes, 1.5 * GIB);
  t.equal(preflight(src).line, 'dispatch pre-flight: host under memory pressure — OOM-kill risk; consider sequential dispatch avail_gb=1.5');
  // A looser cgroup does not: MemAvailable stays the figure.
  const loose = readMemory(source(meminfo(3 * GIB), { 'memory.max': String(64 * GIB), 'memory.current': String(GIB) }));
  t.equal(loose.source, 'meminfo');
  t.equal(loose.availBytes, 3 * GIB);
  // `max` is no limit.
  t.equal(readMemory(source(meminfo(5 * GIB), { 'memory.max': 'max\n', 'memory.current': '1000' })).source, 'meminfo');
});

t.test('cgroup v1: hierarchical_memory_limit (a parent\'s limit) and usage_in_bytes; the "no limit" value is ignored', async (t) => {
  const v1 = source(meminfo(20 * GIB), {
    'memory.limit_in_bytes': '9223372036854771712\n',
    'memory.stat': `cache 0\nrss 100\nhierarchical_memory_limit ${200 * 1024 * 1024}\n`,
    'memory.usage_in_bytes': String(50 * 1024 * 1024),
  });
  const m = readMemory(v1);
  t.equal(m.source, 'cgroup');
  t.equal(m.availBytes, 150 * 1024 * 1024);
  t.equal(preflight(v1).line, 'dispatch pre-flight: host under memory pressure — OOM-kill risk; consider sequential dispatch avail_gb=0.1');
  const unlimited = readMemory(source(meminfo(6 * GIB), { 'memory.limit_in_bytes': '9223372036854771712', 'memory.usage_in_bytes': '100' }));
  t.equal(unlimited.source, 'meminfo');
});

t.test('no /proc/meminfo and no cgroup figures: the pre-flight says it skipped, and has no band', async (t) => {
  const p = preflight(source(undefined));
  t.equal(p.band, null);
  t.equal(p.source, 'none');
  t.match(p.line, /^dispatch pre-flight: no \/proc\/meminfo or cgroup memory figures/);
});

t.test('the OOM-kill counter: v2 memory.events, v1 memory.oom_control, null when neither is readable', async (t) => {
  t.equal(oomKills(source(undefined, { 'memory.events': 'low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n' })), 2);
  t.equal(oomKills(source(undefined, { 'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 5\n' })), 5);
  t.equal(oomKills(source(undefined)), null);
});
