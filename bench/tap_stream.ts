/*
 * TCP bulk transfer between Linux and our kernel over a TAP (libvirtif),
 * both directions, against Linux-to-Linux over a veth pair in the same run.
 *
 *   Linux -> us:  `nc -N` in the TAP's namespace sends SIZE bytes of
 *                 /dev/zero to a sink on our TCP (reads and drops, closes
 *                 at EOF); timed from the nc's start to its exit.
 *   us -> Linux:  our kernel connects to `nc -l` in the namespace and
 *                 writes SIZE bytes; timed from our connect to that nc's
 *                 exit (it has read everything and seen our FIN).
 *   baseline:     the same nc pair between two namespaces joined by a
 *                 veth pair (MTU 1500 as the TAP), both ends Linux.
 * The figure is payload Gbit/s (median of the rounds) and the ratio to
 * the veth baseline.
 *
 * Needs root, the virtif addon, iproute2 and netcat-openbsd.  Every
 * interface lives in namespaces made here and removed at the end (also on
 * failure or ^C); nothing leaves them.  Bounded: fixed sizes, every
 * process killed after a timeout.
 */

import { Netns, requireHost, start, tapPeer, uniqueName, type TapPeer } from '../tests/netns.ts';
import { AF_INET, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR } from '../include/socket.ts';
import { median, note, parseArgs, report } from './harness.ts';

const args = parseArgs();
const SIZE = args.quick ? 64e6 : 256e6;
const VETH_SIZE = args.quick ? 512e6 : 2e9;
const ROUNDS = args.quick ? 2 : 3;
const CHUNK = 256 * 1024;
const OURS = '10.98.71.2';
const THEIRS = '10.98.71.1';
const TIMEOUT = 120_000;

requireHost(['ip', 'nc']);

const cleanup: (() => void | Promise<void>)[] = [];
async function cleanAll(): Promise<void> {
  for (const f of cleanup.splice(0).reverse()) {
    try {
      await f();
    } catch {
      /* Best effort: the rest must still go. */
    }
  }
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => { void cleanAll().then(() => process.exit(130)); });
}

async function ncExit(c: ReturnType<typeof start>, what: string): Promise<void> {
  const d = await c.done;
  if (d.code !== 0) throw new Error(`${what} failed (${d.code ?? d.signal}): ${d.stderr}`);
}

/** Linux -> us: seconds for SIZE bytes. */
async function linuxToUs(P: TapPeer, port: number): Promise<number> {
  const sys = P.k.sys;
  const ls = await sys.socket(AF_INET, SOCK_STREAM);
  await sys.setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, 1);
  await sys.bind(ls, { sin_family: AF_INET, sin_port: port, sin_addr: '0.0.0.0' });
  await sys.listen(ls, 1);
  const sink = (async () => {
    const { fd } = await sys.accept(ls);
    const buf = new Uint8Array(CHUNK);
    let got = 0;
    for (let n = await sys.read(fd, buf); n > 0; n = await sys.read(fd, buf)) got += n;
    await sys.close(fd);
    return got;
  })();
  const t0 = performance.now();
  const nc = P.ns.start('sh', ['-c', `head -c ${SIZE} /dev/zero | nc -N ${OURS} ${port}`], TIMEOUT);
  await ncExit(nc, 'nc -N (Linux -> us)');
  const secs = (performance.now() - t0) / 1000;
  const got = await sink;
  await sys.close(ls);
  if (got !== SIZE) throw new Error(`Linux -> us: received ${got} of ${SIZE} bytes`);
  return secs;
}

/** us -> Linux: seconds for SIZE bytes. */
async function usToLinux(P: TapPeer, port: number): Promise<number> {
  const sys = P.k.sys;
  const nc = P.ns.start('sh', ['-c', `nc -l ${THEIRS} ${port} | wc -c`], TIMEOUT);
  const block = new Uint8Array(CHUNK);
  let fd = -1;
  let t0 = 0;
  for (let i = 0; fd < 0; i++) {
    const s = await sys.socket(AF_INET, SOCK_STREAM);
    try {
      t0 = performance.now();
      await sys.connect(s, { sin_family: AF_INET, sin_port: port, sin_addr: THEIRS });
      fd = s;
    } catch (e) {
      /* nc may not be listening yet; a refused socket cannot be reused. */
      await sys.close(s);
      if ((e as { code?: string }).code !== 'ECONNREFUSED' || i > 100) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  for (let sent = 0; sent < SIZE;) sent += await sys.write(fd, block.subarray(0, Math.min(CHUNK, SIZE - sent)));
  await sys.close(fd);
  const d = await nc.done;
  const secs = (performance.now() - t0) / 1000;
  if (Number(d.stdout.trim()) !== SIZE) throw new Error(`us -> Linux: nc read ${d.stdout.trim()} of ${SIZE} bytes (${d.stderr})`);
  return secs;
}

/** Linux -> Linux over veth: seconds for VETH_SIZE bytes. */
async function vethRun(a: Netns, b: Netns, port: number): Promise<number> {
  const srv = b.start('sh', ['-c', `nc -l 10.98.72.2 ${port} | wc -c`], TIMEOUT);
  /* Let the listener come up; a refused connect would make nc fail. */
  for (let i = 0; i < 100; i++) {
    if (b.sh('sh', ['-c', `ss -ltn 'sport = :${port}' | tail -n +2`]).trim() !== '') break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const t0 = performance.now();
  await ncExit(a.start('sh', ['-c', `head -c ${VETH_SIZE} /dev/zero | nc -N 10.98.72.2 ${port}`], TIMEOUT), 'nc -N (veth)');
  const secs = (performance.now() - t0) / 1000;
  const d = await srv.done;
  if (Number(d.stdout.trim()) !== VETH_SIZE) throw new Error(`veth: read ${d.stdout.trim()} of ${VETH_SIZE} bytes`);
  return secs;
}

const gbps = (bytes: number, secs: number): number => (bytes * 8) / secs / 1e9;

try {
  const P = await tapPeer(OURS, THEIRS, { name: 'tapbench' });
  cleanup.push(() => P.ns.destroy(), () => P.k.halt());
  const a = Netns.create('rtb');
  cleanup.push(() => a.destroy());
  const b = Netns.create('rtb');
  cleanup.push(() => b.destroy());
  const va = uniqueName('rtv');
  const vb = uniqueName('rtv');
  a.sh('ip', ['link', 'add', va, 'type', 'veth', 'peer', 'name', vb, 'netns', b.name]);
  a.sh('ip', ['addr', 'add', '10.98.72.1/24', 'dev', va]);
  a.sh('ip', ['link', 'set', va, 'up']);
  b.sh('ip', ['addr', 'add', '10.98.72.2/24', 'dev', vb]);
  b.sh('ip', ['link', 'set', vb, 'up']);

  const inn: number[] = [];
  const out: number[] = [];
  const veth: number[] = [];
  let port = 5100;
  /* One warm-up round of each (JIT, ARP, slow start), then the measured ones. */
  for (let r = 0; r <= ROUNDS; r++) {
    const i = gbps(SIZE, await linuxToUs(P, port++));
    const o = gbps(SIZE, await usToLinux(P, port++));
    const v = gbps(VETH_SIZE, await vethRun(a, b, port++));
    note(`round ${r}${r === 0 ? ' (warm-up)' : ''}: Linux->us ${i.toFixed(2)}, us->Linux ${o.toFixed(2)}, veth ${v.toFixed(2)} Gbit/s`);
    if (r === 0) continue;
    inn.push(i);
    out.push(o);
    veth.push(v);
  }
  const base = median(veth);
  report({
    bench: 'tap_stream', metric: 'Linux -> us over TAP', unit: 'Gbit/s', value: Number(median(inn).toFixed(3)), better: 'higher',
    baseline: 'Linux -> Linux over veth', baseline_value: Number(base.toFixed(3)),
  }, args);
  report({
    bench: 'tap_stream', metric: 'us -> Linux over TAP', unit: 'Gbit/s', value: Number(median(out).toFixed(3)), better: 'higher',
    baseline: 'Linux -> Linux over veth', baseline_value: Number(base.toFixed(3)),
  }, args);
} finally {
  await cleanAll();
}
