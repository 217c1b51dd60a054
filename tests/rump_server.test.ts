/*
 * rump_server as a process, with clients in this process, in child
 * processes (tests/fixtures/sp_client.ts) and through the npm bin shims
 * (bin/cli/*.mjs): the socket's mode, a TCP connection on lo0 in the
 * server's kernel, a client killed in the middle of a blocking call,
 * SIGTERM and rump.halt under connected clients, detaching, and the
 * messages for bad command lines.  Every child is started here and killed
 * by the helpers if a test leaves it running.
 */

import { describe, it, expect } from 'vitest';
import { existsSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { rumpclient_init, type RumpClient } from '../lib/librumpclient/rumpclient.ts';
import { load_components, rump_server_args, rump_server_main, lib_name } from '../bin/rump_server.ts';
import { rump_init } from '../librump/rumpkern/rump.ts';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { SIOCIFCREATE } from '../include/if.ts';
import { O_RDWR } from '../include/syscall.ts';
import { run_tool } from '../bin/cli/run_tool.ts';
import { EADDRINUSE, EINTR, ENOTCONN, SyscallError } from '../include/errno.ts';
import { AF_INET, SOCK_DGRAM, SOCK_STREAM } from '../include/socket.ts';
import type { ToolIO } from '../bin/tool.ts';
import { bootNode, serve, tempdir, runChild, exitOf, waitFor, type Child } from './sysproxy_helpers.ts';

const NETLIBS = ['-l', 'rumpnet', '-lrumpnet_net', '-l', 'librumpnet_netinet.so'];
const sin = (port: number) => ({ sin_family: AF_INET, sin_port: port, sin_addr: '127.0.0.1' }) as const;

function errOf(p: Promise<unknown>): Promise<SyscallError> {
  return p.then(() => { throw new Error('expected a failure'); }, (e: unknown) => {
    expect(e).toBeInstanceOf(SyscallError);
    return e as SyscallError;
  });
}

function capture(): ToolIO & { text: () => string } {
  let s = '';
  return { out: (t) => { s += t; }, err: (t) => { s += t; }, text: () => s };
}

/** A foreground server on a fresh unix socket, up and accepting. */
async function startServer(libs: readonly string[] = NETLIBS): Promise<{ srv: Child; path: string; url: string }> {
  const path = join(tempdir(), 'sock');
  const url = `unix://${path}`;
  const srv = runChild('bin/rump_server.ts', ['-s', ...libs, url]);
  await waitFor(() => existsSync(path), 'the server socket', srv);
  return { srv, path, url };
}

/** Is host process pid running?  An exited daemon may linger as a zombie until its adoptive parent reaps it. */
function running(pid: number): boolean {
  try {
    return !/^Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1] ?? 'Z');
  } catch {
    return false;
  }
}

/** Retry a call that succeeds once the server has caught up (a dead client's cleanup). */
async function eventually(fn: () => Promise<unknown>, ms = 5000): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    try {
      await fn();
      return;
    } catch (e) {
      if (performance.now() > deadline) throw e;
      await new Promise((r) => { setTimeout(r, 20); });
    }
  }
}

describe('rump_server', { timeout: 30_000 }, () => {
  it('serves TCP on lo0 to clients over a 0600 unix socket; a client killed mid-accept is cleaned up; SIGTERM halts and removes the socket', async () => {
    const { srv, path, url } = await startServer();
    expect(statSync(path).isSocket()).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const c = await rumpclient_init(url);
    const ls = await c.socket(AF_INET, SOCK_STREAM);
    await c.bind(ls, sin(8001));
    await c.listen(ls, 5);
    const acc = c.accept(ls);
    const s = await c.socket(AF_INET, SOCK_STREAM);
    await c.connect(s, sin(8001));
    const { fd } = await acc;
    await c.write(s, 'ping over lo0');
    const buf = new Uint8Array(32);
    expect(new TextDecoder().decode(buf.subarray(0, await c.read(fd, buf)))).toBe('ping over lo0');

    /* Another client process holds port 8002, blocked in accept; kill it. */
    const holder = runChild('tests/fixtures/sp_client.ts', ['8002'], { RUMP_SERVER: url });
    await waitFor(() => holder.out.includes('listening'), 'the holder client', holder);
    const t = await c.socket(AF_INET, SOCK_STREAM);
    expect((await errOf(c.bind(t, sin(8002)))).errno).toBe(EADDRINUSE);
    holder.proc.kill('SIGKILL');
    await exitOf(holder);
    /* The server ended the dead client's process, closing its listener. */
    await eventually(() => c.bind(t, sin(8002)));
    await c.listen(t, 1);

    /* SIGTERM with a call blocked: it fails, later calls fail, the server exits 0 and its socket is gone. */
    const blocked = errOf(c.accept(t));
    srv.proc.kill('SIGTERM');
    expect(await exitOf(srv)).toEqual({ code: 0, signal: null });
    expect([EINTR, ENOTCONN]).toContain((await blocked).errno);
    expect((await errOf(c.getpid())).errno).toBe(ENOTCONN);
    expect(existsSync(path)).toBe(false);
    expect(srv.err).toBe('');
  });

  it('rump.halt (the npm bin shim) halts the server under a connected client, which gets an error, not a hang', async () => {
    const { srv, path, url } = await startServer([]);
    const c = await rumpclient_init(url);
    const [r] = await c.pipe();
    const reading = errOf(c.read(r, new Uint8Array(4)));
    const halt = runChild('bin/cli/rump.halt.mjs', [], { RUMP_SERVER: url });
    expect(await exitOf(halt)).toEqual({ code: 0, signal: null });
    expect(halt.err).toBe('');
    expect(await exitOf(srv)).toEqual({ code: 0, signal: null });
    expect([EINTR, ENOTCONN]).toContain((await reading).errno);
    expect((await errOf(c.getpid())).errno).toBe(ENOTCONN);
    expect(existsSync(path)).toBe(false);
  });

  it('rump.halt -h: the kernel halts and the socket goes, but the process stays until signalled (RB_HALT)', async () => {
    const { srv, path, url } = await startServer([]);
    const halt = runChild('bin/cli/rump.halt.mjs', ['-h'], { RUMP_SERVER: url });
    expect((await exitOf(halt)).code).toBe(0);
    await waitFor(() => srv.out.includes('rump kernel halted (with RB_HALT, not exiting)'), 'the RB_HALT message', srv);
    expect(existsSync(path)).toBe(false);
    await new Promise((r) => { setTimeout(r, 200); });
    expect(srv.proc.exitCode).toBe(null);
    srv.proc.kill('SIGTERM');
    expect(await exitOf(srv)).toEqual({ code: 0, signal: null });
  });

  it('without -s it detaches: the command exits 0 once the server is up, and the server keeps serving (tcp://127.0.0.1)', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => { resolve(p); });
      });
    });
    const url = `tcp://127.0.0.1:${port}/`;
    const parent = runChild('bin/rump_server.ts', [...NETLIBS, url]);
    expect(await exitOf(parent)).toEqual({ code: 0, signal: null });
    expect(parent.err).toBe('');
    let c: RumpClient | null = null;
    let daemonPid = 0;
    try {
      c = await rumpclient_init(url);
      /* The server's hostname is rump-<host pid>.<host>: the daemon's pid, to clean up if this test fails. */
      daemonPid = Number(/rump-([0-9]+)\./.exec(c.banner)?.[1]);
      expect(daemonPid).toBeGreaterThan(0);
      expect(daemonPid).not.toBe(parent.proc.pid);
      expect(await c.sysctl('kern.ostype')).toBe('NetBSD');
      await c.reboot();
      await waitFor(() => !running(daemonPid), 'the daemon to exit');
    } finally {
      if (daemonPid > 0 && running(daemonPid)) process.kill(daemonPid, 'SIGKILL');
    }
    expect((await errOf(rumpclient_init(url))).code).toBe('ECONNREFUSED');
  });

  it('a detaching server that cannot listen reports why, and the command exits 1', async () => {
    const url = `unix://${join(tempdir(), 'no', 'such', 'dir', 'sock')}`;
    const parent = runChild('bin/rump_server.ts', ['-lrumpnet', url]);
    expect((await exitOf(parent)).code).toBe(1);
    expect(parent.err).toMatch(/^rump_server: unix:\/\/.*\/no\/such\/dir\/sock: directory .*\/no\/such\/dir does not exist\n$/);
  });

  it('a bad component, as a command: a message naming it, status 1, no socket file', async () => {
    const path = join(tempdir(), 'sock');
    const srv = runChild('bin/rump_server.ts', ['-s', '-l', 'rumpnet_bogus', `unix://${path}`]);
    expect((await exitOf(srv)).code).toBe(1);
    expect(srv.err).toMatch(/^rump_server: -l rumpnet_bogus: no such component library \(known: rumpnet, rumpnet_net, .*rumpdev_bpf\)\n$/);
    expect(existsSync(path)).toBe(false);
  });

  it('refuses bad command lines, conflicts and unusable URLs with a clear message and status 1, leaving no socket', async () => {
    const dir = tempdir();
    const path = join(dir, 'sock');
    const run = async (...argv: string[]): Promise<[number, string]> => {
      const io = capture();
      const code = await rump_server_main(argv, io);
      return [code, io.text()];
    };
    expect(await run('-s')).toEqual([1, 'rump_server: no url given\nusage: rump_server [-sv] [-c ncpu] [-d drivespec] [-l library] url\n']);
    expect((await run('-x', 'unix://s'))[1]).toMatch(/^rump_server: unknown option -- x\nusage/);
    expect((await run('-l'))[1]).toMatch(/option requires an argument -- l/);
    expect(await run('-s', '-d', 'key=/img,hostpath=x,size=1m', `unix://${path}`)).toEqual([1, 'rump_server: -d key=/img,hostpath=x,size=1m: block devices are not supported (rumpts has no block device or etfs layer)\n']);
    expect((await run('-s', '-m', 'tmpfs.kmod', `unix://${path}`))[1]).toMatch(/-m tmpfs\.kmod: kernel modules are not supported; load components with -l/);
    expect((await run('-s', '-c', 'two', `unix://${path}`))[1]).toMatch(/-c two: the CPU count must be a positive integer/);
    expect(await run('-s', 'http://x')).toEqual([1, 'rump_server: http://x: unknown scheme http:// (want unix:// or tcp://)\n']);
    expect((await run('-s', 'tcp://0:3755/'))[1]).toMatch(/tcp:\/\/0:3755\/: 0 is not an IPv4 address/);
    expect((await run('-s', 'tcp://10.0.0.1:3755'))[1]).toMatch(/10\.0\.0\.1 is not a loopback address; every proxy client is root/);
    expect((await run('-s', 'unix://'))[1]).toMatch(/unix:\/\/: no socket path/);
    expect((await run('-s', `unix://${dir}/${'x'.repeat(120)}`))[1]).toMatch(/longer than the 107 a unix socket allows/);
    /* Conflicts and missing pieces are the component system's, with a hint. */
    const [cc, conflict] = await run('-s', '-lrumpnet', '-lrumpnet_net', '-lrumpnet_netinet', '-lrumpnet_sockin', `unix://${path}`);
    expect(cc).toBe(1);
    expect(conflict).toMatch(/^rump_server: rump_init: .*both provide domain:PF_INET; load only one of them\n$/);
    expect(conflict).toContain('rumpnet_sockin');
    expect(conflict).toContain('rumpnet_netinet');
    expect((await run('-s', '-lrumpnet_netinet', `unix://${path}`))[1]).toMatch(/needs faction:net, which no listed component provides \(add -l rumpnet\)/);
    expect(existsSync(path)).toBe(false);

    /* A path that is not a socket is left alone; one in use by a live server too. */
    const file = join(dir, 'file');
    writeFileSync(file, 'keep me');
    expect((await run('-s', `unix://${file}`))[1]).toMatch(/exists and is not a socket/);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
    const k = await bootNode();
    await serve(k, `unix://${path}`);
    expect(await run('-s', '-lrumpnet', `unix://${path}`)).toEqual([1, `rump_server: unix://${path}: ${path} is in use by another server\n`]);
    const c = await rumpclient_init(`unix://${path}`);
    expect(await c.getpid()).toBe(c.pid);
    await c.close();
  });

  it('every -l library loads; all but sockin boot together, and sockin with rumpnet', async () => {
    const all = ['rumpdev_bpf', 'rumpnet_virtif', 'rumpnet_shmif', 'rumpnet_netinet', 'rumpnet_local', 'rumpnet_net', 'rumpnet'];
    const comps = await load_components(all);
    expect(comps.map((c) => c.name)).toEqual(['rumpnet', 'rumpnet_net', 'rumplocal', 'rumpnet_netinet', 'rumpnet_shmif', 'rumpnet_virtif', 'rumpdev_bpf']);
    const k = await rump_init({ host: new NodeHost({ console: () => {} }), components: comps });
    const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
    await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'shmif0' });
    const bpf = await k.sys.open('/dev/bpf', O_RDWR);
    expect(bpf).toBeGreaterThanOrEqual(0);
    await k.halt();
    const k2 = await rump_init({ host: new NodeHost({ console: () => {} }), components: await load_components(['rumpnet_sockin', 'rumpnet']) });
    expect(k2.components).toEqual(['rumpkern', 'rumpnet', 'rumpnet_sockin']);
    await k2.halt();
  });

  it('parses options as NetBSD getopt does, and names libraries either way', () => {
    expect(rump_server_args(['-sv', '-lrumpnet', '-l', 'librumpnet_net.so', '-c', '1', 'unix://x'])).toEqual({
      foreground: true, verbose: true, libs: ['rumpnet', 'rumpnet_net'], url: 'unix://x', warnings: [],
    });
    expect(rump_server_args(['-c4', '-l', 'rump', 'unix://x']).warnings).toEqual(['-c 4: a rumpts kernel runs on one virtual CPU (the host\'s event loop); running with 1']);
    expect(rump_server_args(['-l', 'rump', 'unix://x']).libs).toEqual([]);
    expect(lib_name('librumpnet_shmif.so.0')).toBe('rumpnet_shmif');
    expect(rump_server_args(['--', '-s']).url).toBe('-s');
  });

  it('the tool runner: RUMP_SERVER unset or unreachable, a tool that is not there', async () => {
    const unset = runChild('bin/cli/rump.halt.mjs', [], { RUMP_SERVER: undefined });
    expect((await exitOf(unset)).code).toBe(1);
    expect(unset.err).toBe('rump.halt: rumpclient init failed: RUMP_SERVER is not set (export RUMP_SERVER=unix:///path/to/socket)\n');
    const io = capture();
    const nowhere = `unix://${join(tempdir(), 'nobody')}`;
    const saved = process.env['RUMP_SERVER'];
    process.env['RUMP_SERVER'] = nowhere;
    try {
      expect(await run_tool('rump.halt', [], io)).toBe(1);
      expect(await run_tool('rump.nosuchtool', [], io)).toBe(1);
    } finally {
      if (saved === undefined) delete process.env['RUMP_SERVER'];
      else process.env['RUMP_SERVER'] = saved;
    }
    expect(io.text()).toBe(
      `rump.halt: rumpclient init failed: ${nowhere}: No such file or directory\n` +
      'rump.nosuchtool: this tool is not installed (bin/rump.nosuchtool.ts is missing)\n',
    );
  });
});
