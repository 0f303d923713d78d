// GET /health from the running instance, over the socket or else TCP: ok, starting/stopping, or silent.

import { splVersion } from '../instance/version.js';
import { fail, ok, skip, warn, type Check } from './check.js';
import { formatAge, plural } from './format.js';

export const healthCheck: Check = {
  id: 'health',
  async run(ctx) {
    if (!(await ctx.running())) return skip('the instance is not running');
    const answer = await ctx.health();
    if (!answer?.answered) {
      const tried = [await ctx.socketHealth(), await ctx.tcpHealth()]
        .filter((a) => a !== undefined)
        .map((a) => `${a.target}: ${a.answered ? `HTTP ${a.httpStatus} from another instance` : a.error}`);
      const pid = ctx.pid.state === 'running' ? `pid ${ctx.pid.pid} is alive but ` : '';
      return fail(`${pid}/health does not answer (${tried.join('; ') || 'no socket and no port to ask'})`, `tail -n 50 ${ctx.paths.logFile}; spl restart`);
    }
    const b = answer.body;
    const where = `over ${answer.via === 'socket' ? 'the socket' : answer.target}`;
    if (answer.httpStatus === 503 && b) return warn(`/health ${where} says ${b.status}`, 'spl status (again in a few seconds)');
    if (answer.httpStatus !== 200 || b === undefined || b.status !== 'ok') {
      return fail(`/health ${where} answered HTTP ${answer.httpStatus}${b ? ` (${b.status})` : ''}`, `tail -n 50 ${ctx.paths.logFile}`);
    }
    const facts = `spl ${b.version}, ${plural(b.records, 'record')}, ${plural(b.threads, 'thread')}, up ${formatAge(b.uptime_secs * 1000)}`;
    if (b.version !== splVersion()) {
      return warn(`/health ${where} ok, but the instance runs spl ${b.version} and this CLI is spl ${splVersion()} (restart to run the installed version)`, 'spl restart');
    }
    const broken = b.folds?.broken ?? [];
    if (broken.length > 0) {
      const what = broken.map((f) => `${f.fold} failed on ${plural(f.faults, 'record')} (first: ${f.first[0]?.record ?? '?'} at sequence ${f.first[0]?.sequence ?? '?'}: ${f.first[0]?.error ?? '?'})`).join('; ');
      return warn(
        `/health ${where}: ok, ${facts}; but derived state is incomplete: ${what}`,
        `grep '"fold"' ${ctx.paths.logFile} shows each failure; the records are committed, so a fixed fold rebuilds them on the next start`,
      );
    }
    if (b.log && b.log.dropped_lines > 0) {
      const state = b.log.writing ? 'writing again' : 'still failing';
      return warn(
        `/health ${where}: ok, ${facts}; but ${plural(b.log.dropped_lines, 'log line')} could not be written to ${ctx.paths.logFile} (${b.log.last_error ?? 'write failed'}, last at ${b.log.last_dropped_at ?? '?'}; ${state})`,
        b.log.writing ? `the log is written again; df -h ${ctx.paths.logsDir} to keep it so` : `free space where the log lives: df -h ${ctx.paths.logsDir}`,
      );
    }
    return ok(`/health ${where}: ok, ${facts}`);
  },
};
