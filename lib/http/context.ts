// What the HTTP layer needs from a running instance; the instance layer supplies it.

import type { Logger } from 'pino';
import type { Engine } from '../engine/engine.js';
import type { TaskContent } from '../engine/folds/tasks.js';
import type { DispatchReply, ReloadState, TaskContentState, TaskDispatchLive, TokenInfo } from '../kernel/wire.js';
import type { DispatchRequest } from '../dispatch/plan.js';
import type { FleetMemberView } from '../kernel/wire.js';
import type { Heartbeat } from '../fleet/registry.js';
import type { RecordLog } from '../store/record-log.js';
import type { AssignmentAcks, AssignmentWire, RemoteDispatchReply, RemoteRequest } from '../fleet/remote.js';
import type { ControlVerdict, FleetControlState, FleetControlWire } from '../fleet/control.js';
import type { AuthGuard } from './auth-guard.js';

export type Phase = 'starting' | 'serving' | 'stopping';
export type Transport = 'tcp' | 'socket';

interface InstanceView {
  did: string;
  version: string;
  pid: number;
  home: string;
  storePath: string;
  bind: string;
  socket: string;
  startedAt: number;
  phase(): Phase;
  /** SIGHUP reloads so far (spl reload waits for the count to move). */
  reloads?(): ReloadState;
  /** Log lines the log file could not take (a full or read-only disk). */
  logDropped?(): LogDropped;
}

export interface LogDropped {
  total: number;
  pending: number;
  first_at: string | null;
  last_at: string | null;
  last_error: string | null;
}

/** Token storage as the API sees it; the instance layer supplies the implementation. */
interface TokenApi {
  verify(secret: string): TokenInfo | undefined;
  create(name: string, actor: string, allowedActors?: readonly string[]): { secret: string; info: TokenInfo };
  revoke(name: string): TokenInfo;
  list(): TokenInfo[];
}

/** Task content files beside the home, as the API sees them; the instance layer supplies the implementation. */
interface TaskFilesApi {
  write(front: { alias: string; thread: string; title: string }, brief: string): { path: string; sha256: string; bytes: number };
  discard(path: string): void;
  brief(content: TaskContent): string | undefined;
  check(content: TaskContent | null): TaskContentState;
}

/** The dispatcher as the API sees it (absent where an app serves without one, as in some tests). */
export interface DispatchApi {
  request(req: DispatchRequest): Promise<DispatchReply>;
  interrupt(ref: string, by: string): Promise<{ alias: string; state: 'running' | 'queued'; sub_thread: string; pid: number | null }>;
  liveOf(taskThread: string): TaskDispatchLive | null;
  load(did: string): { running: number; queued: number };
  /** Across every adapter. */
  totals(): { running: number; queued: number };
}

/** Remote dispatch on the coordinator (fleet/remote.ts). */
export interface RemoteApi {
  assign(ref: string, on: string, by: string, request: RemoteRequest): Promise<RemoteDispatchReply>;
  exchange(did: string, acks: AssignmentAcks): Promise<AssignmentWire[]>;
  accept(did: string, records: unknown[]): Promise<{ created: number; existing: number }>;
}

/** Freezes and the emergency stop in force on this instance (its own and its coordinator's). */
export interface ControlApi {
  readonly active: boolean;
  check(act: string, namespaces: readonly string[]): ControlVerdict;
  current(): FleetControlState;
  /** What a heartbeat reply carries to workers. */
  wire(): FleetControlWire;
}

/** The coordinator's registry as the API sees it. */
export interface FleetApi {
  beat(hb: Heartbeat): { status: FleetMemberView['status']; interval_secs: number; coordinator: string };
  bindToken(did: string, token: string): boolean;
  members(): FleetMemberView[];
  member(did: string): FleetMemberView | undefined;
  readonly intervalSecs: number;
  readonly url: string;
}

interface AuthSettings {
  /** false only with --insecure-localhost. */
  tcpRequiresToken: boolean;
  /** The acting DID for socket requests that do not name one (the instance's admin actor). */
  adminActor: string;
}

export interface ApiDeps {
  log: RecordLog;
  engine: Engine;
  instance: InstanceView;
  logger: Logger;
  tokens: TokenApi;
  taskFiles: TaskFilesApi;
  dispatch?: DispatchApi;
  fleet?: FleetApi;
  control?: ControlApi;
  remote?: RemoteApi;
  auth: AuthSettings;
  /** Largest request body accepted, in bytes. */
  bodyLimit: number;
  now?: () => number;
  /** Failed-credential tracking per TCP peer (lockouts, AUTH FAILED lines); GET /v1/instance reports its tally. */
  authGuard?: AuthGuard;
}

export interface ApiState {
  transport: Transport;
  /** The DID this request acts as: the token's actor over TCP, X-Spl-Actor (or the admin) over the socket. */
  actor: string;
  /** The token's name, for TCP requests that carried one. */
  token?: string;
  /** The DIDs this request may name as a record's actor (the token's actor and allowed actors); unset = any (socket). */
  claims?: readonly string[];
}
