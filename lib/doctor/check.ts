// What a doctor check is: an id, and a function from the shared context to one row of the report.

import type { DoctorContext } from './context.js';

export type Status = 'ok' | 'warn' | 'fail' | 'skip';

/** One line of the report: what was found, in a sentence, and the command that fixes it where one exists. */
export interface Row {
  id: string;
  status: Status;
  summary: string;
  fix?: string;
}

type Finding = Omit<Row, 'id'>;

export interface Check {
  id: string;
  run(ctx: DoctorContext): Finding | Promise<Finding>;
}

export const ok = (summary: string): Finding => ({ status: 'ok', summary });
export const skip = (summary: string): Finding => ({ status: 'skip', summary });
export const warn = (summary: string, fix?: string): Finding => (fix === undefined ? { status: 'warn', summary } : { status: 'warn', summary, fix });
export const fail = (summary: string, fix?: string): Finding => (fix === undefined ? { status: 'fail', summary } : { status: 'fail', summary, fix });
