// The HTTP API's reply bodies, declared once: the routes build them, and the client, the CLI and doctor read
// them. Types only; a route that drifts from its type, or a reader that expects a field no route sends, no
// longer compiles.

/** Folds that threw on a record: the instance serves, but that fold's state lacks the record. */
export interface FoldFault {
  fold: string;
  record: string;
  sequence: number;
  error: string;
  at: string;
}

export interface FoldHealth {
  fold: string;
  faults: number;
  first: FoldFault[];
}

/** The log file: whether lines are being written, and how many were dropped (a full disk). */
export interface LogState {
  writing: boolean;
  dropped_lines: number;
  last_dropped_at?: string | null;
  last_error?: string | null;
}

/** GET /health (open to everyone; 200 while serving, 503 otherwise). */
export interface HealthBody {
  status: string;
  version: string;
  records: number;
  threads: number;
  instance_did: string;
  uptime_secs: number;
  log?: LogState;
  /** Present only when a fold threw on a record. */
  folds?: { broken: FoldHealth[] };
}

export interface ReloadState {
  count: number;
  /** RFC 3339 time of the last reload, or null before the first. */
  last_at: string | null;
  /** Whether the last reload applied (false: config.toml was invalid and the running settings were kept). */
  ok: boolean;
  error: string | null;
  log_level: string;
}

/** A peer that is locked out, as the API reports it. */
export interface LockedPeer {
  peer: string;
  /** Failures in the current burst. */
  failures: number;
  /** Requests refused with 429 during the lockout. */
  blocked: number;
  locked_at: string;
  until: string;
  /** Lockouts of this peer in a row (1 for the first; the lockout doubles with each). */
  strikes: number;
}

export interface RecentPeer {
  peer: string;
  failures: number;
  last_at: string;
}

export interface AuthTally {
  /** Failed bearer tokens (and malformed Authorization headers) since the instance started. */
  failures_total: number;
  /** Requests refused with 429 since start. */
  blocked_total: number;
  lockouts_total: number;
  last_failure_at: string | null;
  last_failure_peer: string | null;
  locked_out: LockedPeer[];
  /** Peers with failures in the current window that are not (yet) locked out. */
  recent: RecentPeer[];
  /** Peers forgotten because the table was full (a client cycling through source addresses). */
  peers_forgotten: number;
  limits: { max_failures: number; window_secs: number; lockout_secs: number; max_lockout_secs: number };
}

/** GET /v1/instance: what `spl status`, `spl stop`, `spl reload` and doctor need about the running process. */
export interface InstanceInfo {
  object: 'instance';
  status: string;
  version: string;
  pid: number;
  instance_did: string;
  uptime_secs: number;
  started_at: string;
  records: number;
  threads: number;
  home: string;
  store: string;
  bind: string;
  socket: string;
  reloads?: ReloadState;
  auth?: AuthTally;
  /** Workers running now, and dispatches waiting for a slot or for memory. */
  dispatches?: { running: number; queued: number };
  /** The process's memory and each fold's size in entries (maps, sets and lists of its state). */
  memory?: { rss_bytes: number; heap_used_bytes: number; heap_total_bytes: number; external_bytes: number; fold_entries: Record<string, number> };
}

/** An API token as listed (its secret is never stored; only POST /v1/tokens returns it, once). */
export interface TokenInfo {
  name: string;
  actor: string;
  /** Further DIDs requests with this token may write records as (besides actor). */
  allowed_actors: string[];
  created_at: string;
  revoked_at: string | null;
}

/** POST /v1/tokens. */
export interface CreatedToken extends TokenInfo {
  object: 'token';
  token: string;
}

/** One engine rule (routing, permission, health check…) as GET /v1/config/rules and /permission-rules list it. */
export interface RuleView {
  topic: string;
  name: string;
  enabled: boolean;
  priority: number;
  expression: string | null;
  body: Record<string, unknown>;
  record: string;
  sequence: number;
  actor: string;
}

/** GET /v1/config: the engine configuration folded from th_engine_config. */
export interface EngineConfigView {
  object: 'engine_config';
  records: number;
  permissions_enabled: boolean;
  rules: Record<string, { enabled: number; total: number }>;
  toggles: Record<string, Record<string, unknown>>;
}

/** `{"object":"list","data":[…]}`. */
export interface ListBody<T> {
  object: 'list';
  data: T[];
}

/** One task as GET /v1/tasks lists it. */
export interface TaskSummary {
  object: 'task';
  alias: string;
  thread: string;
  title: string;
  status: string;
  priority: number;
  domain: string | null;
  labels: string[];
  assigned_to: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  age_secs: number;
}

/** Whether a task's content file is what its records say (GET /v1/tasks/:ref). */
export interface TaskContentState {
  path: string;
  /** The sha256 the latest content record holds. */
  sha256: string;
  bytes: number;
  /** ok; missing (no file); changed (its sha256 differs); unreadable; none (the task has no content record). */
  state: 'ok' | 'missing' | 'changed' | 'unreadable' | 'none';
  /** The file's sha256 now, when it exists and differs. */
  actual_sha256?: string;
  /** What the state means and what to do, when it is not ok. */
  detail?: string;
}

/** One record on a task's thread; `to` equals `from` when it changed nothing, and `note` says why. */
export interface TaskHistoryView {
  sequence: number;
  clock: number;
  act: string;
  actor: string;
  topic: string;
  record: string;
  at: string;
  from: string;
  to: string;
  note?: string;
}

export interface TaskAttemptView {
  record: string;
  at: string;
  success: boolean;
  cost_usd: number | null;
  failure_reason: string | null;
}

/** GET /v1/tasks/:ref and the reply to every task write. */
export interface TaskDetail extends TaskSummary {
  repo: string | null;
  criteria: string[];
  record: string;
  claim: { actor: string; record: string; summary: string | null; domain: string | null; commit: string | null; forced: boolean } | null;
  content: TaskContentState;
  /** The verbs the current status allows. */
  allowed: string[];
  history: TaskHistoryView[];
  attempts: TaskAttemptView[];
  /** A dispatch of this task that is queued or running now, as the dispatcher holds it. */
  dispatch: TaskDispatchLive | null;
  /** How `spl run`'s reconciler routed the task, when it was filed by spl run. */
  routing: TaskRoutingView | null;
}

export interface TaskRoutingView {
  routed: boolean;
  target: string | null;
  /** body.to, rule <name>, trust, only_adapter — or why nothing was dispatched. */
  via: string;
  reason: string;
  record: string;
}

/** The memory pre-flight of one dispatch (SPEC §7). */
export interface DispatchPreflightView {
  band: 'healthy' | 'approaching' | 'critical' | null;
  avail_gb: number | null;
  /** meminfo (MemAvailable) or cgroup (limit − usage, when tighter). */
  source: string;
  line: string;
}

export interface TaskDispatchLive {
  state: 'queued' | 'running';
  sub_thread: string;
  adapter: string;
  attempt: number;
  /** Why it waits: a free slot of its adapter (max_concurrent), or memory (the critical band). */
  queued_reason: 'slot' | 'memory' | null;
  /** 1 for the next to start. */
  position: number | null;
  pid: number | null;
  stream_events: number;
  last_event_type: string | null;
  since: string;
}

/** POST /v1/dispatch and spl task dispatch. */
export interface DispatchReply extends TaskDispatchLive {
  object: 'dispatch';
  alias: string;
  task_thread: string;
  preflight: DispatchPreflightView;
  /** --force started it in the critical band. */
  forced: boolean;
  resume: boolean;
  worktree: string;
  branch: string;
  /** Things the operator should know (a resume with nothing to resume, …). */
  notes: string[];
}

/** An adapter (GET /v1/adapters). */
export interface AdapterView {
  object: 'adapter';
  did: string;
  family: string;
  command: string;
  argv: string[];
  max_concurrent: number;
  timeout_secs: number;
  line_timeout_secs: number;
  /** Names only: values may reference secrets. */
  env: string[];
  domains: string[];
  record: string;
  updated_at: string;
  /** Whether argv[0] resolves to an executable on the instance's PATH. */
  command_found: boolean;
  running: number;
  queued: number;
}

/** spl task diagnose: the latest dispatch of a task, its worktree, and what to do next. */
export interface TaskDiagnosis {
  object: 'task_diagnosis';
  alias: string;
  title: string;
  status: string;
  task_thread: string;
  intend: { record: string; clock: number; at: string };
  attempts: number;
  sub_thread: string | null;
  adapter: string | null;
  live: TaskDispatchLive | null;
  pipeline: Array<{ step: string; at: string | null; detail: string }>;
  subprocess: { pid: number | null; runtime_ms: number | null; exit_code: number | null; signal: number | null } | null;
  completion: {
    codepath: string; failure_reason: string | null; success: boolean; cost_usd: number | null; cost_source: string;
    tokens_in: number | null; tokens_out: number | null; latency_ms: number | null; oom_killed: boolean | 'unknown';
    stderr_tail: string[];
  } | null;
  worktree: string | null;
  worktree_exists: boolean;
  branch: string | null;
  latest_commit: string | null;
  latest_commit_subject: string | null;
  commits_ahead: number | null;
  uncommitted_files: string[] | null;
  recovery: string;
}

/** POST /v1/tasks/:ref/transitions: the task after the write, and the record written. */
export interface TaskTransitionReply {
  object: 'task_transition';
  record: string;
  verb: string;
  from: string;
  to: string;
  /** A verdict by the actor who claimed done: stored, but it neither approves nor adds trust. */
  self: boolean;
  /** Trust evidence the record adds: the judged actor and domain, or null when it adds none (and why). */
  trust: { actor: string; domain: string; verdict: string } | { none: string } | null;
  task: TaskDetail;
}

/** One instance in the coordinator's registry (GET /v1/fleet/status, /v1/fleet/instances/:did). */
export interface FleetMemberView {
  did: string;
  endpoint: string | null;
  status: 'live' | 'stale' | 'archived' | 'left';
  version: string;
  uptime_secs: number;
  health: string;
  active_dispatches: number;
  store_records: number;
  memory_band?: string | null;
  left: boolean;
  first_seen: string;
  last_heartbeat: string;
  /** The coordinator itself. */
  coordinator: boolean;
}

/** GET /v1/fleet/status: what spl fleet status and spl fleet list show. */
export interface FleetStatusView {
  object: 'fleet_status';
  coordinator_url: string;
  coordinator_did: string;
  heartbeat_interval_secs: number;
  counts: { live: number; stale: number; archived: number; left: number };
  instances: FleetMemberView[];
  freezes: FleetFreezeView[];
  emergency: boolean;
  emergency_stop: { reason: string | null; actor: string; since_ms: number; source: 'local' | 'coordinator' } | null;
}

export interface FleetFreezeView {
  namespace: string;
  level: 'soft' | 'hard';
  grace_secs: number;
  /** Seconds before a hard freeze refuses every write (0: it does now); null for a soft one. */
  hard_in_secs: number | null;
  reason: string | null;
  actor: string;
  since_ms: number;
  source: 'local' | 'coordinator';
}

/** A thread in GET /v1/threads: most recently written first. */
export interface ThreadSummary {
  thread: string;
  records: number;
  first_sequence: number;
  last_sequence: number;
  last_written_at: string;
}
