// One line of a worker's stdout, read as Claude Code stream-json (`system`/`init`, `assistant`, `user`, `result`;
// any other type is counted and otherwise ignored). A line that is not a JSON object is no event: the exec family
// logs it; the claude family counts it as noise.

export interface StreamEvent {
  type: string;
  subtype: string | null;
  session_id: string | null;
  /** From the `system`/`init` event. */
  model: string | null;
  cwd: string | null;
  /** Token usage an `assistant` event reports for its message. */
  usage: { input: number; output: number } | null;
  /** Set on a `result` event. */
  result: ResultEvent | null;
}

export interface ResultEvent {
  is_error: boolean;
  subtype: string | null;
  cost_usd: number | null;
  num_turns: number | null;
  usage: { input: number; output: number } | null;
  /** The agent's final text, cut to a summary's length. */
  text: string | null;
}

const SUMMARY_CHARS = 2000;

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

function usageOf(u: unknown): { input: number; output: number } | null {
  if (typeof u !== 'object' || u === null) return null;
  const o = u as Record<string, unknown>;
  const input = num(o.input_tokens);
  const output = num(o.output_tokens);
  return input === null && output === null ? null : { input: input ?? 0, output: output ?? 0 };
}

function resultOf(o: Record<string, unknown>): ResultEvent {
  const text = str(o.result);
  return {
    // A failed API call can come back as subtype "success" with is_error true: is_error decides.
    is_error: o.is_error === true,
    subtype: str(o.subtype),
    cost_usd: num(o.total_cost_usd) ?? num(o.cost_usd),
    num_turns: num(o.num_turns),
    usage: usageOf(o.usage),
    text: text === null ? null : text.length > SUMMARY_CHARS ? text.slice(0, SUMMARY_CHARS - 1) + '…' : text,
  };
}

/** The event a line carries, or null when it is not a JSON object with a string `type`. */
export function parseEvent(line: string): StreamEvent | null {
  const t = line.trim();
  if (t[0] !== '{') return null;
  let o: unknown;
  try {
    o = JSON.parse(t);
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return null;
  const e = o as Record<string, unknown>;
  const type = str(e.type);
  if (type === null) return null;
  const message = typeof e.message === 'object' && e.message !== null ? (e.message as Record<string, unknown>) : undefined;
  return {
    type,
    subtype: str(e.subtype),
    session_id: str(e.session_id),
    model: str(e.model),
    cwd: str(e.cwd),
    usage: type === 'assistant' ? usageOf(message?.usage) : null,
    result: type === 'result' ? resultOf(e) : null,
  };
}
