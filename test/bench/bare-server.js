// The baseline for http-ingest: a bare node:http server that reads the body, JSON.parse()s it and answers
// 201 with a small JSON body. Run as a child process; it prints {"port":N} on stdout once listening.

import { createServer } from 'node:http';

let received = 0;
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let doc;
    try {
      doc = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"object":"error"}');
      return;
    }
    received++;
    const out = JSON.stringify({ ok: true, seq: received, thread: doc && doc.thread });
    res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
});
server.keepAliveTimeout = 5000; // same as spl's listener
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});
const shutdown = () => server.close(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
