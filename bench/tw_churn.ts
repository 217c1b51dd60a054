/*
 * TIME_WAIT churn, the workload Vestigial Time-Wait was made for: a host
 * that opens and closes TCP connections as fast as it can.  Two kernels on
 * a shmif bus (sim host: virtual time, so every TIME_WAIT is still alive
 * when the run ends).  Clients on kernel a, bound to 32 alias addresses so
 * the 4-tuples do not repeat, connect to b:80 and send 100 bytes; the
 * server answers 100 bytes and closes first, so b accumulates TIME_WAIT.
 * The same run churns with full-PCB TIME_WAIT (the baseline) and with
 * VTW; MSLT is off so every vestige is of one class and can use the whole
 * table.
 *
 * Figures: connections per second of real time, CPU time per connection,
 * memory per TIME_WAIT connection (heap + ArrayBuffers after a full GC,
 * before and after, divided by the TIME_WAITs left; for VTW from before
 * the table was allocated, over at least 500,000 vestiges), and the
 * average number of bucket lines a vestige lookup visits.
 */

import { SimWorld } from '../librump/rumpuser/sim.ts';
import { NodeHost } from '../librump/rumpuser/node.ts';
import { rump_init, type Kernel } from '../librump/rumpkern/rump.ts';
import { rumpnet_component } from '../librump/rumpnet/rumpnet_component.ts';
import { rumpnet_net_component } from '../net/lib/libnet/net_component.ts';
import { rumpnet_netinet_component } from '../net/lib/libnetinet/netinet_component.ts';
import { rumpnet_shmif_component, ShmifNet } from '../net/lib/libshmif/shmif_component.ts';
import { AF_INET, SOCK_DGRAM, SOCK_STREAM, type SockaddrIn } from '../include/socket.ts';
import { SIOCAIFADDR, SIOCIFCREATE, SIOCSLINKSTR } from '../include/if.ts';
import { gc, note, parseArgs, report } from './harness.ts';

const args = parseArgs();
const FULL_CONNS = args.quick ? 20_000 : 200_000;
const VTW_CONNS = args.quick ? 20_000 : 520_000;
const VTW_ENTRIES = args.quick ? 1 << 15 : 1 << 19;
const RATE_CONNS = args.quick ? 20_000 : 200_000;
const ALIASES = 32;
const PAR = 64;
const WARMUP = 2_000;

function sin(addr: string, port: number): SockaddrIn {
  return { sin_family: AF_INET, sin_port: port, sin_addr: addr };
}

async function ifaddr(k: Kernel, s: number, addr: string): Promise<void> {
  await k.sys.ioctl(s, SIOCAIFADDR, { ifra_name: 'shmif0', ifra_addr: sin(addr, 0), ifra_mask: sin('255.255.0.0', 0) });
}

async function boot(w: SimWorld | null, net: ShmifNet, name: string, addrs: readonly string[], sysctls: Record<string, number>): Promise<Kernel> {
  const k = await rump_init({
    host: w !== null ? w.host(name) : new NodeHost({ console: () => undefined }), name, lockdebug: 'off', sysctls,
    components: [rumpnet_component, rumpnet_net_component, rumpnet_netinet_component, rumpnet_shmif_component(net)],
  });
  const s = await k.sys.socket(AF_INET, SOCK_DGRAM);
  await k.sys.ioctl(s, SIOCIFCREATE, { ifr_name: 'shmif0' });
  await k.sys.ioctl(s, SIOCSLINKSTR, { ifd_name: 'shmif0', ifd_data: 'churn' });
  for (const a of addrs) await ifaddr(k, s, a);
  await k.sys.close(s);
  return k;
}

function memNow(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

async function countTimeWaits(k: Kernel, vestigial: boolean): Promise<number> {
  const list = await k.sys.sysctl('net.inet.tcp.pcblist') as { state: string; vestigial: boolean }[];
  return list.filter((p) => p.state === 'TIME_WAIT' && p.vestigial === vestigial).length;
}

interface Run {
  cps: number;
  cpuUsPerConn: number;
  bytesPerTw: number;
  timeWaits: number;
  visitsPerLookup: number;
  lookups: number;
  evictions: number;
  virtSecs: number;
  expired: number;
}

/*
 * twTicks: the TIME_WAIT's MSL in slow ticks (MSLT is off, so every
 * connection gets net.inet.tcp.mslt.remote).  The memory runs keep the
 * default 60 (TIME_WAITs outlive the run); the rate runs use 1 (a 1 s
 * TIME_WAIT), so that, as on a host churning for minutes, TIME_WAITs end
 * as fast as they start and both kinds pay for their expiry.
 */
async function churn(vtw: boolean, total: number, twTicks = 60): Promise<Run> {
  let conns = 0;
  /* The memory runs use virtual time (TIME_WAITs pile up); the rate runs need real time to pass. */
  const w = twTicks >= 60 ? new SimWorld({ seed: 42 }) : null;
  const net = new ShmifNet();
  const aliases = Array.from({ length: ALIASES }, (_, i) => `10.0.${1 + (i >> 8)}.${1 + (i & 0xff)}`);
  const a = await boot(w, net, 'client', aliases, {});
  const b = await boot(w, net, 'server', ['10.0.0.2'],
    { 'net.inet.tcp.mslt.enable': 0, 'net.inet.tcp.mslt.remote': twTicks, 'kern.somaxconn': 1024 });
  const ls = await b.sys.socket(AF_INET, SOCK_STREAM);
  await b.sys.bind(ls, sin('0.0.0.0', 80));
  await b.sys.listen(ls, 1024);
  const req = new Uint8Array(100).fill(0x71);
  const rep = new Uint8Array(100).fill(0x72);
  let started = 0;
  let done = 0;
  /* Every connection its own 4-tuple: alias n % ALIASES, port 1024 + n / ALIASES (after the warm-up's). */
  let tuple = 0;
  /* Server workers live for the whole run; closing the listener ends them. */
  const server = async (): Promise<void> => {
    const buf = new Uint8Array(128);
    for (;;) {
      let fd: number;
      try {
        fd = (await b.sys.accept(ls)).fd;
      } catch {
        return;
      }
      let got = 0;
      while (got < 100) {
        const n = await b.sys.read(fd, buf);
        if (n === 0) break;
        got += n;
      }
      await b.sys.write(fd, rep);
      await b.sys.close(fd);
    }
  };
  const servers = Array.from({ length: PAR }, () => server());
  const client = async (): Promise<void> => {
    const buf = new Uint8Array(128);
    const src = sin('', 0);
    const dst = sin('10.0.0.2', 80);
    while (started < conns) {
      started++;
      const n = tuple++;
      src.sin_addr = aliases[n % ALIASES]!;
      src.sin_port = 1024 + Math.floor(n / ALIASES);
      const c = await a.sys.socket(AF_INET, SOCK_STREAM);
      await a.sys.bind(c, src);
      await a.sys.connect(c, dst);
      await a.sys.write(c, req);
      let got = 0;
      while (got < 100) {
        const n = await a.sys.read(c, buf);
        if (n === 0) throw new Error('tw_churn: short reply');
        got += n;
      }
      await a.sys.close(c);
      done++;
    }
  };
  const run = async (n: number): Promise<void> => {
    started = done = 0;
    conns = n;
    await Promise.all(Array.from({ length: PAR }, () => client()));
  };
  /* A warm-up grows the pools and the JIT's code; its TIME_WAITs are full PCBs, counted in mem0. */
  await run(WARMUP);
  const warm = WARMUP;
  const mem0 = memNow();
  if (vtw) {
    await b.sys.sysctl('net.inet.tcp.vtw.entries', VTW_ENTRIES);
    await b.sys.sysctl('net.inet.tcp.vtw.enable', 1);
  }
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const v0 = w !== null ? w.nowMs() : performance.now();
  await run(total);
  const secs = (performance.now() - t0) / 1000;
  const virtSecs = ((w !== null ? w.nowMs() : performance.now()) - v0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  conns = total;
  /* Let the last FINs and ACKs land, without letting 2*MSL pass. */
  if (w !== null) await w.advance(5);
  /* Count, then let the listing go before measuring: it is as big as what it lists. */
  const timeWaits = await countTimeWaits(b, vtw) - (vtw ? 0 : warm);
  const mem1 = memNow();
  const st = vtw ? await b.sys.sysctl('net.inet.tcp.vtw.stats') as Record<string, number> : null;
  await b.sys.close(ls);
  await Promise.all(servers);
  if (done !== conns) throw new Error(`tw_churn: ${done} of ${conns} connections completed`);
  /* 2 * MSL in s: twTicks slow ticks of 500 ms, twice. */
  const steady = twTicks < virtSecs;
  if (!steady && timeWaits < conns * 0.9) throw new Error(`tw_churn: only ${timeWaits} TIME_WAITs for ${conns} connections`);
  if (twTicks < 60 && !steady) throw new Error(`tw_churn: the run lasted ${virtSecs} s, less than its TIME_WAIT`);
  const r: Run = {
    cps: conns / secs,
    cpuUsPerConn: (cpu.user + cpu.system) / conns,
    bytesPerTw: (mem1 - mem0) / timeWaits,
    timeWaits,
    visitsPerLookup: st !== null && st['lookups_connect']! > 0 ? st['visits_connect']! / st['lookups_connect']! : 0,
    lookups: st?.['lookups_connect'] ?? 0,
    evictions: st?.['evictions'] ?? 0,
    virtSecs,
    expired: st?.['expired'] ?? 0,
  };
  await a.halt();
  await b.halt();
  return r;
}

note(`memory: full-PCB TIME_WAIT, ${FULL_CONNS} connections...`);
const full = await churn(false, FULL_CONNS);
note(`full: ${full.timeWaits} TIME_WAITs, ${full.cps.toFixed(0)} conn/s while they pile up`);
note(`memory: vestigial TIME_WAIT (${VTW_ENTRIES} entries), ${VTW_CONNS} connections...`);
const vtw = await churn(true, VTW_CONNS);
note(`vtw: ${vtw.timeWaits} vestiges, ${vtw.evictions} evictions, ${vtw.lookups} lookups, ${vtw.cps.toFixed(0)} conn/s while they pile up`);
note(`rate: ${RATE_CONNS} connections each way with a 1 s TIME_WAIT, so TIME_WAITs end as fast as they start...`);
const fullRate = await churn(false, RATE_CONNS, 1);
const vtwRate = await churn(true, RATE_CONNS, 1);
note(`steady state: full ${fullRate.cps.toFixed(0)} conn/s over ${fullRate.virtSecs.toFixed(1)} s; ` +
  `vtw ${vtwRate.cps.toFixed(0)} conn/s over ${vtwRate.virtSecs.toFixed(1)} s, ${vtwRate.expired} vestiges expired`);

/*
 * The headline rate is the piling-up run: with NetBSD's 60 s TIME_WAIT a
 * host churning at these rates holds hundreds of thousands of them, which
 * is the state VTW exists for.  The 1 s TIME_WAIT run shows the rate when
 * few TIME_WAITs exist at any time (real time, node host).
 */
report({
  bench: 'tw_churn', metric: 'vtw conn/s', unit: 'conn/s', value: vtw.cps, better: 'higher',
  baseline: 'full PCB', baseline_value: full.cps, target: { value: 1.2, on: 'ratio', label: 'VTW churn, TIME_WAITs piling up' },
}, args);
report({
  bench: 'tw_churn', metric: 'vtw conn/s', unit: 'conn/s', value: vtw.cps, better: 'higher',
  target: { value: 20_000, label: 'VTW churn' },
}, args);
report({
  bench: 'tw_churn', metric: 'cpu/conn', unit: 'us', value: vtw.cpuUsPerConn, better: 'lower',
  baseline: 'full PCB', baseline_value: full.cpuUsPerConn,
}, args);
report({
  bench: 'tw_churn', metric: '1s-TW conn/s', unit: 'conn/s', value: vtwRate.cps, better: 'higher',
  baseline: 'full PCB', baseline_value: fullRate.cps,
}, args);
report({
  bench: 'tw_churn', metric: 'bytes/TW', unit: 'B', value: vtw.bytesPerTw, better: 'lower',
  baseline: 'full PCB', baseline_value: full.bytesPerTw, target: { value: 20, on: 'ratio', label: 'full PCB TIME_WAIT vs vestige' },
}, args);
report({
  bench: 'tw_churn', metric: 'bytes/TW', unit: 'B', value: vtw.bytesPerTw, better: 'lower',
  target: { value: 64, label: `vestige (${vtw.timeWaits} entries)` },
}, args);
report({
  bench: 'tw_churn', metric: 'visits/look', unit: 'lines', value: vtw.visitsPerLookup, better: 'lower',
  target: { value: 1.2, label: 'bucket visits per lookup' },
}, args);
