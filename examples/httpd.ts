/*
 * An HTTP server that runs on a rump kernel in another process: the
 * kernel is a rump_server named by RUMP_SERVER, this program is one of its
 * processes through the syscall proxy, and node:http runs unchanged on the
 * kernel's TCP (client.net is Node's net API over the proxied syscalls).
 *
 *   RUMP_SERVER=unix:///tmp/rumpsock npx tsx examples/httpd.ts [PORT]
 *
 * It serves a small page, or /bytes/N for N bytes, and logs each request
 * with the peer's address as the kernel saw it.  Ctrl-C stops it.
 */

import { createServer } from 'node:http';
import { rumpclient_init } from '../lib/librumpclient/rumpclient.ts';
import { serveHttp } from '../lib/nodenet/http.ts';

const port = Number(process.argv[2] ?? 80);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`httpd: bad port ${JSON.stringify(process.argv[2])}`);
  process.exit(1);
}
const client = await rumpclient_init().catch((e: unknown) => {
  console.error(`httpd: rumpclient init failed: ${e instanceof Error ? e.message : String(e)} (is RUMP_SERVER set?)`);
  process.exit(1);
});

const http = createServer((req, res) => {
  console.log(`${req.socket.remoteAddress}:${req.socket.remotePort} ${req.method} ${req.url}`);
  const m = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
  if (m !== null) {
    const n = Math.min(Number(m[1]), 1 << 30);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
    const chunk = new Uint8Array(65536).fill(0x61);
    let left = n;
    const more = (): void => {
      while (left > 0) {
        const c = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= c.length;
        if (!res.write(c)) {
          res.once('drain', more);
          return;
        }
      }
      res.end();
    };
    more();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`hello from a rump kernel (pid ${client.pid} of its server)\n`);
});

const server = serveHttp(client.net, http);
server.listen(port, '0.0.0.0', () => console.log(`httpd: listening on port ${port} of the kernel at ${process.env['RUMP_SERVER']}`));
server.on('error', (e) => {
  console.error(`httpd: ${e.message}`);
  process.exit(1);
});
process.on('SIGINT', () => {
  server.close();
  void client.close();
  process.exit(0);
});
