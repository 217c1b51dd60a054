/*
 * rump.ping: send ICMP ECHO_REQUESTs from a rump kernel (NetBSD's
 * ping(8)) through a raw ICMP socket.
 *
 *   rump.ping [-nqv] [-c count] [-i wait] [-s packetsize] [-t timeout] [-w deadline] host
 *
 * -c stops after count replies (or count sent and the last reply waited
 * for), -i is the interval in seconds (default 1), -s the data bytes
 * (default 56), -t (as FreeBSD's) and -w (NetBSD's deadline) stop after
 * that many seconds in all.  NetBSD's -t sets the TOS; here it is the
 * timeout the brief of these tools asks for.  Output as NetBSD's:
 *
 *   PING 10.0.0.2 (10.0.0.2): 56 data bytes
 *   64 bytes from 10.0.0.2: icmp_seq=0 ttl=255 time=0.123 ms
 *
 *   ----10.0.0.2 PING Statistics----
 *   3 packets transmitted, 3 packets received, 0.0% packet loss
 *   round-trip min/avg/max/stddev = 0.101/0.115/0.123/0.012 ms
 *
 * Exit status 0 if a reply came, 2 if none, 1 on errors.
 *
 * Two clocks: round-trip times are the tool's own (performance.now(),
 * written into each request as ping does with its timeval), while the
 * schedule (interval, deadline, the wait for the last reply) follows the
 * kernel's clock, read through kern.uptime and slept on with poll(2).
 * Under the simulated host the kernel's clock is virtual, so a ping of a
 * few seconds of kernel time runs in milliseconds of real time and the
 * same way each run.
 */

import type { SysApi } from '../include/sysapi.ts';
import type { ToolIO } from './tool.ts';
import { EAGAIN } from '../include/errno.ts';
import { AF_INET, MSG_DONTWAIT, SOCK_RAW, type SockaddrIn } from '../include/socket.ts';
import { POLLIN } from '../include/syscall.ts';
import { IPPROTO_ICMP } from '../net/lib/libnetinet/in.ts';
import { in_cksum } from '../net/lib/libnetinet/in_cksum.ts';
import { errnoOf, errstr, getopt, inet_aton, inet_ntoa } from './lib/toolutil.ts';

const USAGE = 'usage: rump.ping [-nqv] [-c count] [-i wait] [-s packetsize] [-t timeout] [-w deadline] host\n';

const ICMP_ECHOREPLY = 0;
const ICMP_UNREACH = 3;
const ICMP_ECHO = 8;
const ICMP_TIMXCEED = 11;
const ICMP_MINLEN = 8;
/** The largest data size: an IP datagram less the largest IP and ICMP headers. */
const MAXPACKET = 65535 - 60 - ICMP_MINLEN;
/** Bytes of the send time written at the start of the data. */
const PHDR_LEN = 8;

const UNREACH: readonly string[] = [
  'Destination Net Unreachable', 'Destination Host Unreachable', 'Destination Protocol Unreachable',
  'Destination Port Unreachable', 'frag needed and DF set', 'Source Route Failed', 'Unreachable unknown net',
  'Unreachable unknown host', 'Unreachable host isolated', 'Net prohibited access', 'Host prohibited access',
  'Bad TOS for net', 'Bad TOS for host', 'Communication prohibited', 'Host precedence violation', 'Precedence cutoff',
];

interface Options {
  npackets: number;
  interval: number;
  datalen: number;
  maxwait: number;
  quiet: boolean;
  verbose: boolean;
}

function parseOptions(argv: readonly string[], io: ToolIO): { o: Options; host: string } | null {
  const g = getopt(argv, 'c:i:nqs:t:vw:');
  if (g.error !== null || g.rest.length !== 1) {
    io.err(`${g.error !== null ? `ping: ${g.error}\n` : ''}${USAGE}`);
    return null;
  }
  const o: Options = { npackets: Infinity, interval: 1, datalen: 56, maxwait: 0, quiet: false, verbose: false };
  const bad = (what: string, v: string): null => {
    io.err(`ping: Bad/invalid ${what}: ${v}\n`);
    return null;
  };
  for (const { opt, arg } of g.opts) {
    const num = /^\d+(\.\d*)?$|^\.\d+$/.test(arg) ? Number(arg) : NaN;
    switch (opt) {
      case 'c':
        if (!/^\d+$/.test(arg) || Number(arg) <= 0) return bad('number of packets', arg);
        o.npackets = Number(arg);
        break;
      case 'i':
        if (!(num > 0)) return bad('interval', arg);
        o.interval = num;
        break;
      case 's':
        if (!/^\d+$/.test(arg)) return bad('packet size', arg);
        if (Number(arg) > MAXPACKET) {
          io.err('ping: packet size is too large\n');
          return null;
        }
        o.datalen = Number(arg);
        break;
      case 't':
      case 'w':
        if (!(num > 0)) return bad('maxwait time', arg);
        o.maxwait = num;
        break;
      case 'q': o.quiet = true; break;
      case 'v': o.verbose = true; break;
      default: break;
    }
  }
  return { o, host: g.rest[0]! };
}

class Pinger {
  ntransmitted = 0;
  nreceived = 0;
  nrepeats = 0;
  tmin = Infinity;
  tmax = 0;
  tsum = 0;
  tsumsq = 0;
  readonly seen = new Set<number>();
  readonly ident = Math.floor(Math.random() * 0x10000);
  readonly timing: boolean;
  readonly out: Uint8Array;
  readonly view: DataView;

  constructor(readonly sys: SysApi, readonly s: number, readonly io: ToolIO, readonly o: Options, readonly to: SockaddrIn) {
    this.timing = o.datalen >= PHDR_LEN;
    this.out = new Uint8Array(ICMP_MINLEN + o.datalen);
    this.view = new DataView(this.out.buffer);
    for (let i = this.timing ? PHDR_LEN : 0; i < o.datalen; i++) this.out[ICMP_MINLEN + i] = i & 0xff;
  }

  async pinger(): Promise<void> {
    const p = this.out;
    const seq = this.ntransmitted & 0xffff;
    p[0] = ICMP_ECHO;
    p[1] = 0;
    this.view.setUint16(2, 0);
    this.view.setUint16(4, this.ident);
    this.view.setUint16(6, seq);
    if (this.timing) this.view.setFloat64(ICMP_MINLEN, performance.now());
    this.view.setUint16(2, in_cksum(p, 0, p.length));
    this.ntransmitted++;
    try {
      await this.sys.sendto(this.s, p, 0, this.to);
    } catch (e) {
      this.io.err(`ping: sendto: ${errstr(e)}\n`);
    }
  }

  /** pr_pack: a datagram off the raw socket (IP header included). */
  pr_pack(buf: Uint8Array, from: string): void {
    const hlen = (buf[0]! & 0x0f) * 4;
    if (buf.length < hlen + ICMP_MINLEN) {
      if (this.o.verbose) this.io.out(`packet too short (${buf.length} bytes) from ${from}\n`);
      return;
    }
    const cc = buf.length - hlen;
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const type = buf[hlen]!;
    if (type === ICMP_ECHOREPLY && dv.getUint16(hlen + 4) === this.ident) {
      const seq = dv.getUint16(hlen + 6);
      let triptime = -1;
      if (this.timing && cc >= ICMP_MINLEN + PHDR_LEN) {
        triptime = performance.now() - dv.getFloat64(hlen + ICMP_MINLEN);
        this.tsum += triptime;
        this.tsumsq += triptime * triptime;
        if (triptime < this.tmin) this.tmin = triptime;
        if (triptime > this.tmax) this.tmax = triptime;
      }
      const dup = this.seen.has(seq);
      if (dup) this.nrepeats++;
      else {
        this.seen.add(seq);
        this.nreceived++;
      }
      if (this.o.quiet) return;
      let line = `${cc} bytes from ${from}: icmp_seq=${seq}${dup ? ' DUP!' : ''} ttl=${buf[8]}`;
      if (triptime >= 0) line += ` time=${triptime.toFixed(3)} ms`;
      this.io.out(`${line}\n`);
      return;
    }
    if (type !== ICMP_UNREACH && type !== ICMP_TIMXCEED) {
      if (this.o.verbose) this.io.out(`${cc} bytes from ${from}: icmp_type=${type} icmp_code=${buf[hlen + 1]}\n`);
      return;
    }
    /* An error about one of our requests: its quoted IP header and ICMP header. */
    const qip = hlen + ICMP_MINLEN;
    if (buf.length < qip + 20) return;
    const qhl = (buf[qip]! & 0x0f) * 4;
    if (buf[qip + 9] !== IPPROTO_ICMP || buf.length < qip + qhl + 6 || dv.getUint16(qip + qhl + 4) !== this.ident) return;
    if (this.o.quiet) return;
    const code = buf[hlen + 1]!;
    const what = type === ICMP_UNREACH
      ? UNREACH[code] ?? `Bad Destination Unreachable Code: ${code}`
      : code === 0 ? 'Time to live exceeded' : 'Frag reassembly time exceeded';
    this.io.out(`${cc} bytes from ${from}: ${what}\n`);
  }

  summary(host: string): string {
    let s = `\n----${host} PING Statistics----\n${this.ntransmitted} packets transmitted, ${this.nreceived} packets received, `;
    if (this.nrepeats !== 0) s += `+${this.nrepeats} duplicates, `;
    if (this.ntransmitted !== 0) {
      s += this.nreceived > this.ntransmitted
        ? "-- somebody's duplicating packets!"
        : `${(((this.ntransmitted - this.nreceived) * 100) / this.ntransmitted).toFixed(1)}% packet loss`;
    }
    s += '\n';
    if (this.nreceived !== 0 && this.timing && this.tmin !== Infinity) {
      const n = this.nreceived + this.nrepeats;
      const avg = this.tsum / n;
      const variance = n > 1 ? Math.max(0, (this.tsumsq - n * avg * avg) / (n - 1)) : 0;
      s += `round-trip min/avg/max/stddev = ${this.tmin.toFixed(3)}/${avg.toFixed(3)}/${this.tmax.toFixed(3)}/` +
        `${Math.sqrt(variance).toFixed(3)} ms\n`;
    }
    return s;
  }
}

/** The kernel's monotonic clock in ms (kern.uptime), or the tool's own if the kernel has none. */
async function kclock(sys: SysApi): Promise<() => Promise<number>> {
  try {
    await sys.sysctl('kern.uptime');
  } catch {
    return async () => performance.now();
  }
  return async () => {
    const t = (await sys.sysctl('kern.uptime')) as { tv_sec: number; tv_nsec: number };
    return t.tv_sec * 1000 + t.tv_nsec / 1e6;
  };
}

export async function main(sys: SysApi, argv: readonly string[], io: ToolIO): Promise<number> {
  const p = parseOptions(argv, io);
  if (p === null) return 1;
  const { o, host } = p;
  const addr = inet_aton(host);
  if (addr === null) {
    io.err(`ping: Cannot resolve "${host}" (Unknown host)\n`);
    return 1;
  }
  let s: number;
  try {
    s = await sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  } catch (e) {
    io.err(`ping: Cannot create socket: ${errstr(e)}\n`);
    return 1;
  }
  const to: SockaddrIn = { sin_family: AF_INET, sin_port: 0, sin_addr: inet_ntoa(addr) };
  const pg = new Pinger(sys, s, io, o, to);
  const buf = new Uint8Array(o.datalen + 60 + 76);
  try {
    const now = await kclock(sys);
    io.out(`PING ${host} (${to.sin_addr}): ${o.datalen} data bytes\n`);
    const start = await now();
    const last = o.maxwait !== 0 ? start + o.maxwait * 1000 : Infinity;
    const intervalMs = o.interval * 1000;
    let nextTx = start;
    let lastTx = start;
    while (pg.nreceived < o.npackets) {
      const t = await now();
      let wait: number;
      if (pg.ntransmitted < o.npackets && t < last) {
        if (nextTx - t <= 0.1) {
          await pg.pinger();
          lastTx = t;
          /* Keep the beat; fall no more than 100 ms behind it. */
          do nextTx += intervalMs; while (nextTx - t < -100);
        }
        wait = Math.min(Math.max(nextTx - t, 0), last - t);
      } else {
        /* For the last reply, twice the worst round trip or ten intervals. */
        wait = Math.min(Math.max(2 * pg.tmax, 10 * intervalMs) - (t - lastTx), last - t);
        if (wait <= 0) break;
      }
      const fds = [{ fd: s, events: POLLIN, revents: 0 }];
      if ((await sys.poll(fds, Math.ceil(wait))) <= 0) continue;
      for (;;) {
        let r;
        try {
          r = await sys.recvfrom(s, buf, MSG_DONTWAIT);
        } catch (e) {
          if (errnoOf(e) !== EAGAIN) io.err(`ping: recvfrom: ${errstr(e)}\n`);
          break;
        }
        const from = r.from !== null && 'sin_addr' in r.from ? r.from.sin_addr : '?';
        pg.pr_pack(buf.subarray(0, r.n), from);
      }
    }
    io.out(pg.summary(host));
    return pg.nreceived > 0 ? 0 : 2;
  } catch (e) {
    io.err(`ping: ${errstr(e)}\n`);
    return 1;
  } finally {
    await sys.close(s).catch(() => undefined);
  }
}
