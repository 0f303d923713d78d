// processExited (lib/instance/pidfile.ts): a process that has exited but is not reaped yet (a zombie, as a
// daemon is until init reaps it) counts as exited — spl stop returns then, not when init gets round to it — while
// a running one does not. The zombie is a real one: a shell's background child whose parent exec'd into a process
// that never waits.

import t from 'tap';
import { spawn } from 'node:child_process';
import { processAlive, processExited } from '../../lib/instance/pidfile.js';

t.test('a zombie has exited; a running process has not; a gone one has', async (t) => {
  const parent = spawn('sh', ['-c', 'sleep 0.05 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => parent.kill('SIGKILL'));
  const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))));
  t.ok(pid > 0);
  let zombie = false;
  for (let i = 0; i < 100 && !zombie; i++) {
    await new Promise((r) => setTimeout(r, 20));
    zombie = processAlive(pid) && processExited(pid);
  }
  t.ok(zombie, 'its exited child stays a zombie (kill -0 still finds it) and counts as exited');
  t.equal(processExited(parent.pid!), false, 'the running parent has not exited');
  parent.kill('SIGKILL');
  await new Promise((r) => parent.once('exit', r));
  t.equal(processExited(parent.pid!), true, 'reaped: gone');
});
