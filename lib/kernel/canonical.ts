// Canonical JSON (SPEC §2): keys sorted by code point at every depth, no whitespace, minimal string
// escaping, integers without exponent or fraction. The content id is the SHA-256 of these bytes.

export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return canonicalNumber(value);
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
      return canonicalObject(value as Record<string, unknown>);
    default:
      throw new TypeError(`canonical JSON cannot encode a ${typeof value}`);
  }
}

/** A UTF-16 surrogate: only where one appears can UTF-16 order differ from code-point order. */
const SURROGATE = /[\ud800-\udfff]/;

function canonicalObject(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined);
  // Without surrogates the engine's own (UTF-16) sort is code-point order, and much cheaper.
  if (keys.some((k) => SURROGATE.test(k))) keys.sort(compareCodePoints);
  else keys.sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    if (i > 0) out += ',';
    const k = keys[i]!;
    out += quote(k) + ':' + canonicalJson(obj[k]);
  }
  return out + '}';
}

/** Orders strings by Unicode code point (not UTF-16 unit, which differs above U+FFFF). */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

function canonicalNumber(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError('canonical JSON cannot encode a non-finite number');
  if (Number.isInteger(n)) {
    if (!Number.isSafeInteger(n)) throw new TypeError(`integer ${n} is outside the safe range`);
    return Object.is(n, -0) ? '0' : String(n);
  }
  // Fractions are allowed in bodies; JSON.stringify gives the shortest round-trip form.
  return JSON.stringify(n);
}

const ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

function quote(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"'; // the common case: nothing to escape, no replace pass
  // eslint-disable-next-line no-control-regex
  return '"' + s.replace(/["\\\u0000-\u001f]/g, (c) => ESCAPES[c] ?? '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')) + '"';
}
