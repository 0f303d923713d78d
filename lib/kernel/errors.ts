// Coded errors: one table of stable codes, each with its HTTP status and CLI exit code.
// Operators grep for codes, so they never change once shipped.

export const ERRORS = {
  INVALID_RECORD: { status: 400, exit: 2 },
  INVALID_REQUEST: { status: 400, exit: 2 },
  INVALID_JSON: { status: 400, exit: 2 },
  INVALID_QUERY: { status: 400, exit: 2 },
  INVALID_CONFIG: { status: 400, exit: 2 },
  USAGE: { status: 400, exit: 2 },
  AUTH_REQUIRED: { status: 401, exit: 1 },
  PERMISSION_DENIED: { status: 403, exit: 1 },
  DID_CLAIM_DENIED: { status: 403, exit: 1 },
  NAMESPACE_FROZEN: { status: 403, exit: 1 },
  EMERGENCY_STOP: { status: 403, exit: 1 },
  NOT_FOUND: { status: 404, exit: 1 },
  RECORD_NOT_FOUND: { status: 404, exit: 1 },
  THREAD_NOT_FOUND: { status: 404, exit: 1 },
  TASK_NOT_FOUND: { status: 404, exit: 1 },
  METHOD_NOT_ALLOWED: { status: 405, exit: 1 },
  ALREADY_EXISTS: { status: 409, exit: 1 },
  CLOCK_CONFLICT: { status: 409, exit: 1 },
  PREFLIGHT_FAILED: { status: 409, exit: 1 },
  CLOCK_REGRESSION: { status: 409, exit: 1 },
  TASK_STATE: { status: 409, exit: 1 },
  UNCOMMITTED_CHANGES: { status: 409, exit: 1 },
  WORKTREE_CONFLICT: { status: 409, exit: 1 },
  DISPATCH_ACTIVE: { status: 409, exit: 1 },
  ADAPTER_NOT_FOUND: { status: 404, exit: 1 },
  NO_ADAPTER: { status: 422, exit: 1 },
  BODY_TOO_LARGE: { status: 413, exit: 2 },
  BATCH_TOO_LARGE: { status: 413, exit: 2 },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, exit: 2 },
  EXPRESSION_TOO_COSTLY: { status: 422, exit: 2 },
  REQUEST_TIMEOUT: { status: 408, exit: 1 },
  HEADERS_TOO_LARGE: { status: 431, exit: 2 },
  RATE_LIMITED: { status: 429, exit: 1 },
  INTERNAL: { status: 500, exit: 1 },
  STORE_FAILED: { status: 500, exit: 1 },
  UNAVAILABLE: { status: 503, exit: 1 },
  STORAGE_FULL: { status: 507, exit: 1 },
  NOT_RUNNING: { status: 503, exit: 3 },
  ALREADY_RUNNING: { status: 409, exit: 1 },
  ADDRESS_IN_USE: { status: 500, exit: 1 },
  STORE_CORRUPT: { status: 500, exit: 1 },
  STORE_TOO_NEW: { status: 500, exit: 1 },
  STORE_MISSING: { status: 500, exit: 2 },
  STORE_READONLY: { status: 500, exit: 2 },
  STORE_UNAVAILABLE: { status: 500, exit: 2 },
  INVALID_HOME: { status: 500, exit: 2 },
  INVALID_ENCODING: { status: 400, exit: 2 },
  HOME_LOCKED: { status: 409, exit: 1 },
  START_FAILED: { status: 500, exit: 1 },
} as const satisfies Record<string, { status: number; exit: number }>;

export type ErrorCode = keyof typeof ERRORS;

/** Marks an SplError made by any copy of this module (see `Symbol.hasInstance` below). */
const SPL_ERROR = Symbol.for('spl.SplError');

/** The error type every layer throws when the cause is known and the operator can act on it. */
export class SplError extends Error {
  /**
   * `instanceof SplError` holds for an SplError from another copy of this module too: the CLI's bundled commands
   * (dist/cjs) carry their own copy, and the modules they load from dist/ throw with theirs. A subclass keeps the
   * ordinary prototype check.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== SplError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === 'object' && value !== null && (value as { [SPL_ERROR]?: unknown })[SPL_ERROR] === true;
  }

  declare readonly [SPL_ERROR]: true;
  readonly code: ErrorCode;
  readonly status: number;
  readonly exitCode: number;
  /** A command or step that fixes the problem, when one exists. */
  readonly fix: string | undefined;
  /** The field or parameter at fault, when the problem is in the input. */
  readonly field: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { fix?: string; field?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SplError';
    Object.defineProperty(this, SPL_ERROR, { value: true });
    this.code = code;
    this.status = ERRORS[code].status;
    this.exitCode = ERRORS[code].exit;
    this.fix = opts.fix;
    this.field = opts.field;
  }

  /** The API error envelope (SPEC §6). */
  toEnvelope(): ErrorEnvelope {
    const env: ErrorEnvelope = { object: 'error', type: errorType(this.status), code: this.code, message: this.message };
    if (this.field !== undefined) env.field = this.field;
    if (this.fix !== undefined) env.fix = this.fix;
    return env;
  }
}

interface ErrorEnvelope {
  object: 'error';
  type: string;
  code: string;
  message: string;
  field?: string;
  fix?: string;
}

/** Coarse error class for the envelope's `type`, derived from the status. */
function errorType(status: number): string {
  if (status === 400 || status === 405 || status === 408 || status === 413 || status === 415 || status === 422 || status === 431) return 'invalid_request_error';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 409) return 'conflict_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'unavailable_error';
  return 'internal_error';
}

export function isSplError(err: unknown): err is SplError {
  return err instanceof SplError;
}
