// What the HTTP layer needs from a running instance; the instance layer supplies it.

import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import type { RecordLog } from '../store/record-log.js';

export type Phase = 'starting' | 'serving' | 'stopping';
export type Transport = 'tcp' | 'socket';

export interface InstanceView {
  did: string;
  version: string;
  pid: number;
  home: string;
  storePath: string;
  bind: string;
  socket: string;
  startedAt: number;
  phase(): Phase;
}

export interface ApiDeps {
  log: RecordLog;
  engine: Engine;
  instance: InstanceView;
  logger: Logger;
  /** Largest request body accepted, in bytes. */
  bodyLimit: number;
  now?: () => number;
}

export interface ApiState {
  transport: Transport;
}
