// A small HTTP/1.1 client over raw TCP sockets, for the fuzz drill (drills/fuzz-drill.mjs). node:http's client
// refuses to send what the drill must send (bytes that are not a valid request line, invalid header values,
// non-ASCII paths, a Content-Length that lies, a body cut off midway), so requests here are byte strings the
// caller builds, written as they are, and responses are parsed just enough to judge them: the status, the
// headers, the body (Content-Length, chunked, or up to the close), and whether the server closed the connection.
// Loopback only: the host is fixed.

import { connect } from 'node:net';

const HOST = '127.0.0.1';
const MAX_RESPONSE = 32 * 1024 * 1024; // nothing the API answers comes near this; beyond it the answer is cut

/**
 * One connection, one request at a time, kept alive between requests when the server lets it. `send` resolves
 * (never rejects) to { status, headers, body, ms, closed, error, bytesIn } — status 0 and `error` set ('timeout',
 * 'closed', 'reset', …) when no complete response arrived.
 */
export class Conn {
  constructor(port) {
    this.port = port;
    this.socket = null;
    this.dead = true;
    this.uses = 0;
  }

  open() {
    const s = connect({ host: HOST, port: this.port, noDelay: true });
    this.socket = s;
    this.dead = false;
    this.uses = 0;
    this.buf = Buffer.alloc(0);
    this.waiter = null;
    // Events of a socket this connection has already replaced (destroyed, then reopened) are stale: ignored.
    s.on('data', (d) => {
      if (this.socket !== s) return;
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.waiter?.onData();
    });
    s.on('error', (err) => {
      if (this.socket === s) this.sockErr = err.code ?? err.message;
    });
    s.on('close', () => {
      if (this.socket !== s) return;
      this.dead = true;
      this.waiter?.onClose();
    });
    // Writes to a socket the server has already closed fail with EPIPE; the outcome is read from the response.
    return s;
  }

  destroy() {
    if (this.socket) this.socket.destroy();
    this.dead = true;
  }

  /**
   * Writes `chunks` (Buffers; with `gapMs`, one chunk at a time with that pause between them) and reads one
   * response. `method` matters only for HEAD (no body follows). With `abandonAfter`, the connection is destroyed
   * after the chunks are written (and `abandonAfter` ms more), and nothing is read: an upload given up midway.
   */
  async send(chunks, { timeoutMs = 10_000, method = 'GET', gapMs = 0, abandonAfter } = {}) {
    const reused = !this.dead && this.uses > 0;
    if (this.dead) this.open();
    this.uses++;
    this.sockErr = undefined;
    const s = this.socket;
    const t0 = performance.now();
    const result = await new Promise((resolve) => {
      let done = false;
      const finish = (r) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.waiter = null;
        r.ms = performance.now() - t0;
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.destroy();
        finish({ status: 0, error: 'timeout', bytesIn: this.buf.length });
      }, timeoutMs);
      const parser = new ResponseParser(method);
      this.waiter = {
        onData: () => {
          const r = parser.feed(this.buf);
          if (r === undefined) {
            if (this.buf.length > MAX_RESPONSE) {
              this.destroy();
              finish({ status: 0, error: 'response too large' });
            }
            return;
          }
          this.buf = this.buf.subarray(r.consumed);
          if (r.headers.connection?.toLowerCase() === 'close') this.destroy();
          finish({ status: r.status, headers: r.headers, body: r.body, closed: this.dead, bytesIn: r.consumed });
        },
        onClose: () => {
          const r = parser.feed(this.buf, true);
          if (r) return finish({ status: r.status, headers: r.headers, body: r.body, closed: true, bytesIn: r.consumed });
          const got = this.buf.length;
          finish({ status: 0, error: got > 0 ? 'truncated response' : this.sockErr === 'ECONNRESET' ? 'reset' : 'closed', bytesIn: got, reusedClose: reused && got === 0 });
        },
      };
      if (abandonAfter !== undefined) {
        for (const c of chunks) s.write(c);
        setTimeout(() => {
          this.destroy();
          finish({ status: 0, error: 'abandoned', abandoned: true });
        }, abandonAfter);
        return;
      }
      if (gapMs > 0) {
        let k = 0;
        const next = () => {
          if (done || this.dead) return;
          s.write(chunks[k++]);
          if (k < chunks.length) setTimeout(next, gapMs);
        };
        next();
      } else {
        for (const c of chunks) s.write(c);
      }
      if (this.buf.length > 0) this.waiter.onData();
    });
    return result;
  }
}

/** Incremental HTTP/1.1 response parsing: returns undefined until a whole response (after any 1xx) is in `buf`. */
class ResponseParser {
  constructor(method) {
    this.method = method;
  }

  feed(buf, ended = false) {
    let off = 0;
    for (;;) {
      const end = buf.indexOf('\r\n\r\n', off, 'latin1');
      if (end < 0) return undefined;
      const head = buf.subarray(off, end).toString('latin1');
      const lines = head.split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
      if (!m) return { status: -1, headers: {}, body: buf.subarray(off), consumed: buf.length };
      const status = Number(m[1]);
      const headers = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) {
          const k = l.slice(0, i).trim().toLowerCase();
          const v = l.slice(i + 1).trim();
          headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
        }
      }
      const bodyStart = end + 4;
      if (status >= 100 && status < 200) {
        off = bodyStart; // 100 Continue and friends: the real response follows
        continue;
      }
      if (this.method === 'HEAD' || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0), consumed: bodyStart };
      if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) {
        const r = dechunk(buf, bodyStart);
        if (!r) return undefined;
        return { status, headers, body: r.body, consumed: r.end };
      }
      if (headers['content-length'] !== undefined) {
        const n = Number(headers['content-length']);
        if (buf.length - bodyStart < n) return undefined;
        return { status, headers, body: buf.subarray(bodyStart, bodyStart + n), consumed: bodyStart + n };
      }
      if (!ended) return undefined; // the body runs to the close
      return { status, headers, body: buf.subarray(bodyStart), consumed: buf.length };
    }
  }
}

function dechunk(buf, at) {
  const parts = [];
  for (;;) {
    const eol = buf.indexOf('\r\n', at, 'latin1');
    if (eol < 0) return undefined;
    const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size)) return { body: Buffer.concat(parts), end: buf.length };
    if (size === 0) {
      const fin = buf.indexOf('\r\n\r\n', eol, 'latin1');
      if (fin < 0) return undefined;
      return { body: Buffer.concat(parts), end: fin + 4 };
    }
    if (buf.length < eol + 2 + size + 2) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** The bytes of one request. `path` and header values may be strings (written as UTF-8) or Buffers (as they are). */
export function buildRequest({ method, path, headers = [], body, port, contentLength = 'auto', version = 'HTTP/1.1', host = true }) {
  const parts = [Buffer.from(`${method} `, 'latin1'), Buffer.isBuffer(path) ? path : Buffer.from(path, 'utf8'), Buffer.from(` ${version}\r\n`, 'latin1')];
  if (host) parts.push(Buffer.from(`Host: ${HOST}:${port}\r\n`, 'latin1'));
  for (const [k, v] of headers) parts.push(Buffer.from(`${k}: `, 'latin1'), Buffer.isBuffer(v) ? v : Buffer.from(String(v), 'utf8'), Buffer.from('\r\n', 'latin1'));
  const b = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  if (contentLength === 'auto' && b !== undefined) parts.push(Buffer.from(`Content-Length: ${b.length}\r\n`, 'latin1'));
  parts.push(Buffer.from('\r\n', 'latin1'));
  if (b !== undefined) parts.push(b);
  return Buffer.concat(parts);
}
