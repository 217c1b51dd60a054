/*
 * Small servers and a client on the syscall surface (SysApi), for tests
 * where real Linux tools talk to our TCP: an HTTP/1.1 responder (GET of
 * fixed bodies, PUT/POST answered with the body's length and SHA-256,
 * "Expect: 100-continue" honoured as curl -T sends it), a raw sink that
 * hashes everything until EOF and answers with the hash (for nc), and an
 * HTTP/1.1 GET client.
 *
 * With closeAfter (the default), the server closes each connection after
 * its response, so the server side ends in TIME_WAIT, which is what a test
 * of connection turnover wants to see.
 */

import { createHash } from 'node:crypto';
import type { SysApi } from '../include/sysapi.ts';
import { AF_INET, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR } from '../include/socket.ts';

const CHUNK = 64 * 1024;

export interface HttpServerStats {
  connections: number;
  requests: number;
  /** Errors handling a connection (the message), besides the peer resetting it. */
  errors: string[];
  /** Uploads received: length and SHA-256 (hex). */
  uploads: { len: number; sha256: string }[];
}

export interface TcpServer {
  readonly stats: HttpServerStats;
  /** Stop accepting and wait for every connection to finish. */
  close(): Promise<void>;
}

async function writeAll(sys: SysApi, fd: number, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await sys.write(fd, data.subarray(off, Math.min(data.length, off + 256 * 1024)));
}

function indexOfCrlf2(b: Uint8Array, len: number): number {
  for (let i = 3; i < len; i++) if (b[i] === 10 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i + 1;
  return -1;
}

async function listenOn(sys: SysApi, port: number): Promise<number> {
  const ls = await sys.socket(AF_INET, SOCK_STREAM);
  await sys.setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, 1);
  await sys.bind(ls, { sin_family: AF_INET, sin_port: port, sin_addr: '0.0.0.0' });
  await sys.listen(ls, 128);
  return ls;
}

/* Accept until the listener is closed; each connection runs handle(fd), then is closed. */
function serve(sys: SysApi, ls: number, stats: HttpServerStats, handle: (fd: number) => Promise<void>): TcpServer {
  const conns = new Set<Promise<void>>();
  let closing = false;
  const loop = (async () => {
    for (;;) {
      let fd: number;
      try {
        fd = (await sys.accept(ls)).fd;
      } catch (e) {
        if (closing) return;
        stats.errors.push(`accept: ${(e as Error).message}`);
        return;
      }
      stats.connections++;
      const p = (async () => {
        try {
          await handle(fd);
        } catch (e) {
          const code = (e as { code?: string }).code;
          if (code !== 'ECONNRESET' && code !== 'EPIPE') stats.errors.push(`connection: ${(e as Error).message}`);
        } finally {
          await sys.close(fd).catch(() => undefined);
        }
      })();
      conns.add(p);
      void p.then(() => conns.delete(p));
    }
  })();
  return {
    stats,
    close: async () => {
      closing = true;
      await sys.close(ls).catch(() => undefined);
      await loop;
      await Promise.all([...conns]);
    },
  };
}

/**
 * An HTTP/1.1 server on port: GET path answers routes[path] (404 for the
 * rest); PUT/POST answers "<length> <sha256>\n" of the body.
 */
export async function httpServe(
  sys: SysApi, port: number, routes: Record<string, Uint8Array>, opts: { closeAfter?: boolean } = {},
): Promise<TcpServer> {
  const closeAfter = opts.closeAfter ?? true;
  const stats: HttpServerStats = { connections: 0, requests: 0, errors: [], uploads: [] };
  const ls = await listenOn(sys, port);
  return serve(sys, ls, stats, async (fd) => {
    const buf = new Uint8Array(CHUNK);
    let have = 0;
    for (;;) {
      /* Read one request's header. */
      let end = indexOfCrlf2(buf, have);
      while (end < 0) {
        if (have === buf.length) throw new Error('request header longer than 64 KiB');
        const n = await sys.read(fd, buf.subarray(have));
        if (n === 0) return;
        have += n;
        end = indexOfCrlf2(buf, have);
      }
      const head = new TextDecoder().decode(buf.subarray(0, end));
      const [reqline, ...hdrs] = head.split('\r\n');
      const [method, path] = reqline!.split(' ');
      const h = new Map(hdrs.filter((l) => l.includes(':')).map((l) => {
        const i = l.indexOf(':');
        return [l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim()] as [string, string];
      }));
      stats.requests++;
      buf.copyWithin(0, end, have);
      have -= end;
      const keep = !closeAfter && (h.get('connection') ?? '').toLowerCase() !== 'close';
      const conn = keep ? 'keep-alive' : 'close';
      if (method === 'PUT' || method === 'POST') {
        if (h.get('expect')?.toLowerCase() === '100-continue') await writeAll(sys, fd, new TextEncoder().encode('HTTP/1.1 100 Continue\r\n\r\n'));
        const len = Number(h.get('content-length') ?? 'NaN');
        if (!Number.isSafeInteger(len)) throw new Error(`${method} without a Content-Length`);
        const hash = createHash('sha256');
        let got = Math.min(have, len);
        hash.update(buf.subarray(0, got));
        buf.copyWithin(0, got, have);
        have -= got;
        while (got < len) {
          const n = await sys.read(fd, buf.subarray(0, Math.min(buf.length, len - got)));
          if (n === 0) throw new Error(`upload ended after ${got} of ${len} bytes`);
          hash.update(buf.subarray(0, n));
          got += n;
        }
        const sha = hash.digest('hex');
        stats.uploads.push({ len, sha256: sha });
        const body = new TextEncoder().encode(`${len} ${sha}\n`);
        await writeAll(sys, fd, new TextEncoder().encode(
          `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: ${conn}\r\n\r\n`));
        await writeAll(sys, fd, body);
      } else {
        const body = method === 'GET' ? routes[path ?? ''] : undefined;
        const status = body === undefined ? '404 Not Found' : '200 OK';
        const b = body ?? new TextEncoder().encode('not found\n');
        await writeAll(sys, fd, new TextEncoder().encode(
          `HTTP/1.1 ${status}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${b.length}\r\nConnection: ${conn}\r\n\r\n`));
        await writeAll(sys, fd, b);
      }
      if (!keep) return;
    }
  });
}

/** A TCP sink on port: reads until EOF, answers "<length> <sha256>\n", closes. */
export async function hashSink(sys: SysApi, port: number): Promise<TcpServer> {
  const stats: HttpServerStats = { connections: 0, requests: 0, errors: [], uploads: [] };
  const ls = await listenOn(sys, port);
  return serve(sys, ls, stats, async (fd) => {
    const buf = new Uint8Array(CHUNK);
    const hash = createHash('sha256');
    let len = 0;
    for (let n = await sys.read(fd, buf); n > 0; n = await sys.read(fd, buf)) {
      hash.update(buf.subarray(0, n));
      len += n;
    }
    const sha = hash.digest('hex');
    stats.uploads.push({ len, sha256: sha });
    await writeAll(sys, fd, new TextEncoder().encode(`${len} ${sha}\n`));
  });
}

/** GET http://host:port/path over our TCP; the status, the body's length and SHA-256. */
export async function httpGet(sys: SysApi, host: string, port: number, path: string): Promise<{ status: number; len: number; sha256: string }> {
  const fd = await sys.socket(AF_INET, SOCK_STREAM);
  try {
    await sys.connect(fd, { sin_family: AF_INET, sin_port: port, sin_addr: host });
    await writeAll(sys, fd, new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    const buf = new Uint8Array(CHUNK);
    let have = 0;
    let end = -1;
    while (end < 0) {
      const n = await sys.read(fd, buf.subarray(have));
      if (n === 0) throw new Error('connection closed before the response header');
      have += n;
      end = indexOfCrlf2(buf, have);
    }
    const head = new TextDecoder().decode(buf.subarray(0, end));
    const status = Number(head.split(' ')[1]);
    const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const hash = createHash('sha256');
    hash.update(buf.subarray(end, have));
    let len = have - end;
    for (let n = await sys.read(fd, buf); n > 0; n = await sys.read(fd, buf)) {
      hash.update(buf.subarray(0, n));
      len += n;
    }
    if (cl !== null && Number(cl[1]) !== len) throw new Error(`body of ${len} bytes, Content-Length ${cl[1]}`);
    return { status, len, sha256: hash.digest('hex') };
  } finally {
    await sys.close(fd).catch(() => undefined);
  }
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
