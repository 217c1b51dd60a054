/*
 * Helpers for the syscall proxy tests: a kernel on the Node host served
 * in this process, a raw connection that speaks frames byte by byte (for
 * malformed input), rump_server child processes, and a seeded PRNG.
 */

import { afterEach, expect } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { rumplocal_component } from '../net/lib/liblocal/local_component.ts';
import { rump_sp_hyperup, type SpProc } from '../librump/rumpkern/rump_sp.ts';
import { rumpuser_sp_init, type SpServer } from '../librump/rumpuser/rumpuser_sp.ts';
import { SpFramer, SpWriter, sp_write_preamble, type SpStreamError } from '../librump/rumpuser/sp_common.ts';
import type { PanicReport } from '../include/rumpuser.ts';

export const root = fileURLToPath(new URL('..', import.meta.url));

const dirs: string[] = [];
const kernels: Kernel[] = [];
const servers: SpServer<SpProc>[] = [];
const children: ChildProcess[] = [];
const panics: PanicReport[] = [];

/** A fresh directory for sockets, removed after the test. */
export function tempdir(): string {
  const d = mkdtempSync(join(tmpdir(), 'rumpts-sp-'));
  dirs.push(d);
  return d;
}

/** A kernel with the network stack on the Node host; panics fail the test. */
export async function bootNode(): Promise<Kernel> {
  const k = await rump_init({
    host: new NodeHost({ console: () => {}, onPanic: (r) => { panics.push(r); } }),
    components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, rumplocal_component],
  });
  kernels.push(k);
  return k;
}

/** Serve k on url in this process. */
export async function serve(k: Kernel, url: string, onhalt?: (howto: number) => void): Promise<SpServer<SpProc>> {
  const log: string[] = [];
  const srv = await rumpuser_sp_init(url, rump_sp_hyperup(k, { onhalt }), { log: (s) => { log.push(s); }, graceMs: 500 });
  servers.push(srv);
  return srv;
}

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  for (const s of servers.splice(0)) await s.close();
  for (const k of kernels.splice(0)) if (!k.dead) await k.halt();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  const p = panics.splice(0);
  expect(p.map((r) => `${r.kernel}: ${r.message}`)).toEqual([]);
});

export interface Frame {
  type: number;
  tag: number;
  body: Uint8Array;
}

/** A connection that sends and receives raw frames. */
export class RawConn {
  readonly frames: Frame[] = [];
  readonly errors: SpStreamError[] = [];
  closed = false;
  private waiters: (() => void)[] = [];

  private constructor(readonly sock: Socket) {
    const framer = new SpFramer((type, tag, body) => {
      this.frames.push({ type, tag, body: body.slice() });
      this.kick();
    }, (e) => { this.errors.push(e); });
    sock.on('data', (b: Buffer) => { framer.push(b); });
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      this.kick();
    });
  }

  static open(path: string): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ path });
      s.once('connect', () => { resolve(new RawConn(s)); });
      s.once('error', reject);
    });
  }

  private kick(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Wait until pred holds (checked after every frame and at close), at most ms. */
  async until(pred: () => boolean, ms = 5000): Promise<void> {
    const deadline = performance.now() + ms;
    while (!pred()) {
      if (performance.now() > deadline) throw new Error(`timed out; frames ${this.frames.map((f) => `${f.type}/${f.tag}`).join(' ')}, closed ${this.closed}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
  }

  /** The next frame not yet taken. */
  async next(ms = 5000): Promise<Frame> {
    await this.until(() => this.frames.length > 0 || this.closed, ms);
    const f = this.frames.shift();
    if (f === undefined) throw new Error('connection closed');
    return f;
  }

  write(b: Uint8Array): void {
    this.sock.write(b);
  }

  send(segs: readonly Uint8Array[]): void {
    for (const s of segs) this.sock.write(s);
  }

  /** Read HELLO and hand-shake with version v. */
  async handshake(v?: number, comm = 'raw'): Promise<Frame> {
    await this.next();
    const w = new SpWriter();
    sp_write_preamble(w, v);
    w.value({ comm });
    this.send(w.finish(2, 0));
    return this.next();
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** mulberry32: a small seeded PRNG for the fuzzer. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Child {
  proc: ChildProcess;
  out: string;
  err: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Run a TypeScript file (or a bin shim) as a child process with the local tsx loader. */
export function runChild(file: string, args: readonly string[], env: Record<string, string | undefined> = {}): Child {
  const tsx = file.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const proc = spawn(process.execPath, [...tsx, file, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUMP_VERBOSE: '0', ...env },
  });
  children.push(proc);
  const c: Child = {
    proc,
    out: '',
    err: '',
    exited: new Promise((resolve) => { proc.on('exit', (code, signal) => { resolve({ code, signal }); }); }),
  };
  proc.stdout!.setEncoding('utf8');
  proc.stderr!.setEncoding('utf8');
  proc.stdout!.on('data', (s: string) => { c.out += s; });
  proc.stderr!.on('data', (s: string) => { c.err += s; });
  return c;
}

/** A child's exit, or a failure naming what it printed if it takes longer than ms. */
export async function exitOf(c: Child, ms = 15000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => { reject(new Error(`child did not exit in ${ms} ms\nstdout: ${c.out}\nstderr: ${c.err}`)); }, ms);
  });
  try {
    return await Promise.race([c.exited, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Wait for a file to appear (a server's socket), failing with the child's output. */
export async function waitFor(cond: () => boolean, what: string, c?: Child, ms = 15000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!cond()) {
    if (c !== undefined && (c.proc.exitCode !== null || c.proc.signalCode !== null)) {
      throw new Error(`${what}: the child exited (${c.proc.exitCode ?? c.proc.signalCode})\nstdout: ${c.out}\nstderr: ${c.err}`);
    }
    if (performance.now() > deadline) throw new Error(`${what}: timed out\n${c !== undefined ? `stdout: ${c.out}\nstderr: ${c.err}` : ''}`);
    await new Promise((r) => { setTimeout(r, 20); });
  }
}

export function socketExists(path: string): boolean {
  return existsSync(path);
}
