/*
 * Halting a sockin kernel releases every host socket: a child process
 * that boots sockin, opens a TCP listener, a TCP connection through it, a
 * bound UDP socket and a connect in progress, and halts without closing
 * anything, must exit by itself.  Likewise a kernel left running whose
 * sockets were all closed.  (A host handle left open would keep the
 * child's event loop alive until the test kills it.)
 */
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const script = (mode: 'halt' | 'close'): string => `
import { rump_init } from './librump/rumpkern/rump.ts';
import { NodeHost } from './librump/rumpuser/node.ts';
import { rumpnet_component } from './librump/rumpnet/rumpnet_component.ts';
import { rumpnet_sockin_component } from './net/lib/libsockin/sockin_component.ts';
const k = await rump_init({ host: new NodeHost({ console: () => {} }), components: [rumpnet_component, rumpnet_sockin_component] });
const sin = (a, p) => ({ sin_family: 2, sin_port: p, sin_addr: a });
const ls = await k.sys.socket(2, 1);
await k.sys.bind(ls, sin('127.0.0.1', 0));
await k.sys.listen(ls, 4);
const port = (await k.sys.getsockname(ls)).sin_port;
const c = await k.sys.socket(2, 1);
const acc = k.sys.accept(ls);
await k.sys.connect(c, sin('127.0.0.1', port));
const { fd } = await acc;
await k.sys.write(c, 'unread');
const u = await k.sys.socket(2, 2);
await k.sys.bind(u, sin('127.0.0.1', 0));
const nb = await k.sys.socket(2, 1 | 0x20000000);
await k.sys.connect(nb, sin('127.0.0.1', port)).catch(() => {});
if (${JSON.stringify(mode)} === 'halt') {
  await k.halt();
} else {
  for (const f of [fd, c, u, nb, ls]) await k.sys.close(f);
}
console.log('done');
`;

function run(mode: 'halt' | 'close'): Promise<{ code: number | null; out: string; err: string; killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(mode)], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let killed = false;
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    const t = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, 10000);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out, err, killed });
    });
  });
}

describe('sockin releases the host', () => {
  it('a halted kernel leaves no host socket open: the process exits', async () => {
    const r = await run('halt');
    expect(r.err).toBe('');
    expect(r.out.trim()).toBe('done');
    expect(r.killed).toBe(false);
    expect(r.code).toBe(0);
  }, 20000);

  it('closing every socket of a running kernel lets the process exit', async () => {
    const r = await run('close');
    expect(r.err).toBe('');
    expect(r.out.trim()).toBe('done');
    expect(r.killed).toBe(false);
    expect(r.code).toBe(0);
  }, 20000);
});
