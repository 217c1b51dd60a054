/*
 * The bpf device (net/lib/libnet/bpf.ts through /dev/bpf) with kernels on
 * a shmif bus, sim host: pings and TCP captured with filters, in both
 * directions or received only, records laid out as bpf_hdr + packet on
 * word boundaries, statistics, drops when the reader falls behind,
 * promiscuous mode, immediate versus buffered reads and read timeouts,
 * poll, non-blocking reads, writes, lo0 (DLT_NULL), an interface going
 * away, and the errors of bad requests.
 */

import { describe, it, expect } from 'vitest';
import { a4, echo, recvWithin, sin } from './inet_helpers.ts';
import { bpfLab, bpfOpen, bpfRead, etype } from './bpf_dev_helpers.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import { ifunit } from '../net/lib/libnet/if.ts';
import { bpf_listeners } from '../net/lib/libnet/bpf.ts';
import { bpf_compile } from '../net/lib/libnet/bpf_compile.ts';
import { ether_aton } from '../net/lib/libnet/if_ether.ts';
import { IPPROTO_ICMP } from '../net/lib/libnetinet/in.ts';
import {
  BIOCFLUSH, BIOCGBLEN, BIOCGDLT, BIOCGETIF, BIOCGHDRCMPLT, BIOCGRTIMEOUT, BIOCGSEESENT, BIOCGSTATS, BIOCIMMEDIATE,
  BIOCPROMISC, BIOCSBLEN, BIOCSETF, BIOCSETIF, BIOCSHDRCMPLT, BIOCSRTIMEOUT, BIOCSSEESENT, BIOCVERSION, BPF_ABS,
  BPF_DFLTBUFSIZE, BPF_H, BPF_JEQ, BPF_JMP, BPF_JUMP, BPF_K, BPF_LD, BPF_MAXBUFSIZE, BPF_MINBUFSIZE, BPF_RET,
  BPF_STMT, DLT_EN10MB, DLT_NULL, type BpfStat,
} from '../include/bpf.ts';
import { AF_INET, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM } from '../include/socket.ts';
import { FIONBIO, FIONREAD, O_NONBLOCK, O_RDWR, POLLIN } from '../include/syscall.ts';
import { IFF_PROMISC, SIOCIFDESTROY } from '../include/if.ts';

const ICMP_ECHO = 8;
const ICMP_ECHOREPLY = 0;

async function ping(k: Kernel, to: string, seq: number): Promise<void> {
  const s = await k.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  await k.sys.sendto(s, echo(0x42, seq, new Uint8Array(32).fill(seq)), 0, sin(to));
  for (;;) {
    const r = await recvWithin(k, s, 5000);
    const hl = (r.data[0]! & 15) * 4;
    if (r.data[hl] === ICMP_ECHOREPLY) break;
  }
  await k.sys.close(s);
}

async function stats(k: Kernel, fd: number): Promise<BpfStat> {
  return (await k.sys.ioctl(fd, BIOCGSTATS)) as BpfStat;
}

async function errnoOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    return (e as { code: string }).code;
  }
  return 'OK';
}

/**
 * A UDP datagram from a to b:port, n times.  ARP must be warm: NetBSD
 * holds one packet per unresolved address and drops the rest.
 */
async function udpBurst(a: Kernel, to: string, port: number, n: number, size = 100): Promise<void> {
  const s = await a.sys.socket(AF_INET, SOCK_DGRAM);
  for (let i = 0; i < n; i++) await a.sys.sendto(s, new Uint8Array(size).fill(i), 0, sin(to, port));
  await a.sys.close(s);
}

describe('bpf: capturing between two kernels', () => {
  it('captures a ping both ways with "icmp", with bpf_hdr records on word boundaries', async () => {
    const { ks } = await bpfLab();
    const [a] = ks;
    const { fd, blen } = await bpfOpen(a!, 'shmif0', { expr: 'icmp', immediate: true });
    expect(blen).toBe(BPF_DFLTBUFSIZE);
    expect(await a!.sys.ioctl(fd, BIOCGDLT)).toBe(DLT_EN10MB);
    expect(await a!.sys.ioctl(fd, BIOCGETIF)).toEqual({ ifr_name: 'shmif0' });
    await ping(a!, '10.0.0.2', 1);
    const recs = await bpfRead(a!, fd, blen);
    expect(recs).toHaveLength(2);
    const [req, rep] = recs;
    /* Ethernet: 14 + 34 puts the IP header on an 8-byte boundary. */
    for (const r of recs) {
      expect(r.hdr.bh_hdrlen).toBe(34);
      expect((r.off + r.hdr.bh_hdrlen + 14) % 8).toBe(0);
      expect(r.hdr.bh_caplen).toBe(r.hdr.bh_datalen);
      expect(r.hdr.bh_caplen).toBe(14 + 20 + 8 + 32);
      expect(etype(r.data)).toBe(0x0800);
    }
    expect(req!.data[34]).toBe(ICMP_ECHO);
    expect(Array.from(req!.data.subarray(26, 34))).toEqual([10, 0, 0, 1, 10, 0, 0, 2]);
    expect(rep!.data[34]).toBe(ICMP_ECHOREPLY);
    expect(Array.from(rep!.data.subarray(26, 34))).toEqual([10, 0, 0, 2, 10, 0, 0, 1]);
    /* The MACs are the interfaces'. */
    const amac = ifunit(a!, 'shmif0')!.if_sadl;
    expect(req!.data.subarray(6, 12)).toEqual(amac);
    expect(rep!.data.subarray(0, 6)).toEqual(amac);
    /* Virtual-time stamps: kernel time, microseconds, the reply not before the request. */
    const t = (r: typeof req): number => r!.hdr.bh_sec * 1e6 + r!.hdr.bh_usec;
    expect(t(rep)).toBeGreaterThanOrEqual(t(req));
    expect(req!.hdr.bh_sec).toBeGreaterThanOrEqual(Date.UTC(2026, 0, 1) / 1000);
    /* ARP went by too: seen by the filter, not captured. */
    const st = await stats(a!, fd);
    expect(st.bs_capt).toBe(2);
    expect(st.bs_recv).toBeGreaterThan(2);
    expect(st.bs_drop).toBe(0);
    await a!.sys.close(fd);
  });

  it('captures a TCP connection with "tcp port 7777"; BIOCSSEESENT 0 keeps only what is received', async () => {
    const { ks } = await bpfLab();
    const [a, b] = ks;
    const both = await bpfOpen(a!, 'shmif0', { expr: 'tcp port 7777', immediate: true });
    const rcvd = await bpfOpen(a!, 'shmif0', { expr: 'tcp port 7777', immediate: true });
    expect(await a!.sys.ioctl(rcvd.fd, BIOCGSEESENT)).toBe(1);
    await a!.sys.ioctl(rcvd.fd, BIOCSSEESENT, 0);
    expect(await a!.sys.ioctl(rcvd.fd, BIOCGSEESENT)).toBe(0);
    expect(bpf_listeners(a!, ifunit(a!, 'shmif0')!)).toBe(2);
    const ls = await b!.sys.socket(AF_INET, SOCK_STREAM);
    await b!.sys.bind(ls, sin('10.0.0.2', 7777));
    await b!.sys.listen(ls, 5);
    const c = await a!.sys.socket(AF_INET, SOCK_STREAM);
    await a!.sys.connect(c, sin('10.0.0.2', 7777));
    const { fd: sfd } = await b!.sys.accept(ls);
    await a!.sys.write(c, 'hello over tcp');
    const got = new Uint8Array(64);
    expect(await b!.sys.read(sfd, got)).toBe(14);
    /* Unrelated TCP on another port is not captured. */
    const flags = (rs: Awaited<ReturnType<typeof bpfRead>>): number[] => rs.map((r) => r.data[14 + 20 + 13]!);
    const fromA = (r: { data: Uint8Array }): boolean => r.data[29] === 1;
    const all = await bpfRead(a!, both.fd, both.blen);
    const SYN = 0x02;
    const ACK = 0x10;
    expect(flags(all).slice(0, 3)).toEqual([SYN, SYN | ACK, ACK]);
    expect(all.some((r) => fromA(r))).toBe(true);
    expect(all.some((r) => !fromA(r))).toBe(true);
    const payload = (r: { data: Uint8Array }): Uint8Array => r.data.subarray(14 + 20 + (r.data[14 + 20 + 12]! >> 4) * 4);
    const data = all.filter((r) => payload(r).length > 0);
    expect(data.map((r) => new TextDecoder().decode(payload(r)))).toEqual(['hello over tcp']);
    const inOnly = await bpfRead(a!, rcvd.fd, rcvd.blen);
    expect(inOnly.length).toBeGreaterThan(0);
    expect(inOnly.every((r) => !fromA(r))).toBe(true);
    expect(inOnly.length).toBe(all.filter((r) => !fromA(r)).length);
    for (const fd of [c]) await a!.sys.close(fd);
    for (const fd of [sfd, ls]) await b!.sys.close(fd);
  });

  it('a filter returning less than the packet captures that much (snaplen) and still records the length', async () => {
    const { ks } = await bpfLab();
    const [a] = ks;
    await ping(a!, '10.0.0.2', 0);
    const fd = await a!.sys.open('/dev/bpf', O_RDWR);
    await a!.sys.ioctl(fd, BIOCSETF, { bf_insns: bpf_compile('udp', { snaplen: 42 }) });
    await a!.sys.ioctl(fd, BIOCSETIF, { ifr_name: 'shmif0' });
    await a!.sys.ioctl(fd, BIOCIMMEDIATE, true);
    await udpBurst(a!, '10.0.0.2', 9, 1, 500);
    const [r] = await bpfRead(a!, fd, BPF_DFLTBUFSIZE);
    expect(r!.hdr.bh_caplen).toBe(42);
    expect(r!.hdr.bh_datalen).toBe(14 + 20 + 8 + 500);
    expect(r!.data).toHaveLength(42);
  });

  it('a hand-written program: ARP only, through BIOCSETF with bf_len', async () => {
    const { ks } = await bpfLab(3);
    const [a, , c] = ks;
    const prog = [
      BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0806, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffff),
      BPF_STMT(BPF_RET | BPF_K, 0),
    ];
    const fd = await c!.sys.open('/dev/bpf', O_RDWR);
    await c!.sys.ioctl(fd, BIOCSETIF, { ifr_name: 'shmif0' });
    await c!.sys.ioctl(fd, BIOCSETF, { bf_len: prog.length, bf_insns: prog });
    await c!.sys.ioctl(fd, BIOCIMMEDIATE, 1);
    /* a's who-has for c's address comes in, c's reply goes out; the ICMP is filtered away. */
    await ping(a!, '10.0.0.3', 1);
    const recs = await bpfRead(c!, fd, BPF_DFLTBUFSIZE);
    expect(recs.length).toBeGreaterThanOrEqual(2);
    expect(recs.every((r) => etype(r.data) === 0x0806)).toBe(true);
    /* A request in, a reply out. */
    expect(recs.map((r) => r.data[21])).toEqual(expect.arrayContaining([1, 2]));
  });
});

describe('bpf: buffering', () => {
  it('drops and counts packets when the store buffer is full and the hold buffer unread', async () => {
    const { ks, w } = await bpfLab();
    const [a] = ks;
    await ping(a!, '10.0.0.2', 0);
    const fd = await a!.sys.open('/dev/bpf', O_RDWR);
    expect(await a!.sys.ioctl(fd, BIOCSBLEN, 1024)).toBe(1024);
    await a!.sys.ioctl(fd, BIOCSETF, { bf_insns: bpf_compile('udp port 9') });
    await a!.sys.ioctl(fd, BIOCSETIF, { ifr_name: 'shmif0' });
    /* 64 datagrams of 100 bytes: records of 34 + 142 = 176, aligned 176; 5 fit in 1024. */
    await udpBurst(a!, '10.0.0.2', 9, 64);
    await w.advance(10);
    const st = await stats(a!, fd);
    /* The filter saw each datagram and b's port unreachable for it; it took the datagrams. */
    expect(st.bs_recv).toBe(128);
    expect(st.bs_capt).toBe(64);
    /* Two buffers' worth kept (store and hold), the rest dropped. */
    expect(st.bs_drop).toBe(64 - 10);
    expect(await a!.sys.ioctl(fd, FIONREAD)).toBe(2 * 5 * 176);
    const first = await bpfRead(a!, fd, 1024);
    /* The store buffer is not full: only a non-blocking (or immediate, or timed) read takes it now. */
    await a!.sys.ioctl(fd, FIONBIO, 1);
    const second = await bpfRead(a!, fd, 1024);
    expect(first.map((r) => r.data[42])).toEqual([0, 1, 2, 3, 4]);
    expect(second.map((r) => r.data[42])).toEqual([5, 6, 7, 8, 9]);
    /* A buffer of the wrong size is refused: a read moves a whole buffer. */
    expect(await errnoOf(a!.sys.read(fd, new Uint8Array(512)))).toBe('EINVAL');
    expect(await errnoOf(a!.sys.read(fd, new Uint8Array(2048)))).toBe('EINVAL');
    /* Flush: counters and buffers start over. */
    await a!.sys.ioctl(fd, BIOCFLUSH);
    expect(await stats(a!, fd)).toEqual({ bs_recv: 0, bs_drop: 0, bs_capt: 0 });
    expect(await a!.sys.ioctl(fd, FIONREAD)).toBe(0);
  });

  it('buffered: a read waits for a full buffer or the read timeout; immediate: for the first packet', async () => {
    const { ks, w } = await bpfLab();
    const [a] = ks;
    await ping(a!, '10.0.0.2', 0);
    const fd = await a!.sys.open('/dev/bpf', O_RDWR);
    await a!.sys.ioctl(fd, BIOCSBLEN, 4096);
    await a!.sys.ioctl(fd, BIOCSETF, { bf_insns: bpf_compile('udp port 9') });
    await a!.sys.ioctl(fd, BIOCSETIF, { ifr_name: 'shmif0' });
    await a!.sys.ioctl(fd, BIOCSRTIMEOUT, { tv_sec: 2, tv_usec: 500_000 });
    expect(await a!.sys.ioctl(fd, BIOCGRTIMEOUT)).toEqual({ tv_sec: 2, tv_usec: 500_000 });
    const t0 = w.nowMs();
    let done = false;
    const rd = bpfRead(a!, fd, 4096).then((r) => { done = true; return r; });
    await udpBurst(a!, '10.0.0.2', 9, 3);
    await w.advance(1000);
    expect(done).toBe(false);
    const recs = await rd;
    expect(recs).toHaveLength(3);
    /* 250 ticks, counted from inside the tick the read began in. */
    expect(w.nowMs() - t0).toBeGreaterThanOrEqual(2490);
    expect(w.nowMs() - t0).toBeLessThan(2600);
    /* A full buffer wakes the reader without the timeout: 4096 / 176 = 23 records fit. */
    const t1 = w.nowMs();
    const rd2 = bpfRead(a!, fd, 4096);
    await udpBurst(a!, '10.0.0.2', 9, 24);
    const full = await rd2;
    expect(full).toHaveLength(23);
    expect(w.nowMs() - t1).toBeLessThan(100);
    /* A timeout with nothing buffered: a read of 0 bytes. */
    await bpfRead(a!, fd, 4096);
    const t2 = w.nowMs();
    expect(await a!.sys.read(fd, new Uint8Array(4096))).toBe(0);
    expect(w.nowMs() - t2).toBeGreaterThanOrEqual(2490);
    /* Immediate mode: the first packet ends the read. */
    await a!.sys.ioctl(fd, BIOCIMMEDIATE, 1);
    const t3 = w.nowMs();
    const rd3 = bpfRead(a!, fd, 4096);
    await udpBurst(a!, '10.0.0.2', 9, 1);
    expect(await rd3).toHaveLength(1);
    expect(w.nowMs() - t3).toBeLessThan(100);
  });

  it('poll: readable in immediate mode with data; buffered, once the timeout armed by poll runs out', async () => {
    const { ks, w } = await bpfLab();
    const [a] = ks;
    await ping(a!, '10.0.0.2', 0);
    const { fd } = await bpfOpen(a!, 'shmif0', { expr: 'udp port 9' });
    await a!.sys.ioctl(fd, BIOCSRTIMEOUT, { tv_sec: 1, tv_usec: 0 });
    const fds = [{ fd, events: POLLIN, revents: 0 }];
    expect(await a!.sys.poll(fds, 0)).toBe(0);
    await udpBurst(a!, '10.0.0.2', 9, 2);
    await w.advance(5);
    /* Buffered: data is waiting but not yet readable; the poll's own timeout makes it so. */
    const t0 = w.nowMs();
    expect(await a!.sys.poll(fds, 5000)).toBe(1);
    expect(fds[0]!.revents & POLLIN).toBe(POLLIN);
    expect(w.nowMs() - t0).toBeGreaterThanOrEqual(990);
    expect(w.nowMs() - t0).toBeLessThan(1100);
    expect(await bpfRead(a!, fd, BPF_DFLTBUFSIZE)).toHaveLength(2);
    /* Immediate: readable as soon as a packet is in. */
    await a!.sys.ioctl(fd, BIOCIMMEDIATE, 1);
    expect(await a!.sys.poll(fds, 0)).toBe(0);
    const p = a!.sys.poll(fds, 5000);
    const t1 = w.nowMs();
    await udpBurst(a!, '10.0.0.2', 9, 1);
    expect(await p).toBe(1);
    expect(w.nowMs() - t1).toBeLessThan(100);
  });

  it('non-blocking reads: EAGAIN when empty, else what there is (O_NONBLOCK or FIONBIO)', async () => {
    const { ks, w } = await bpfLab();
    const [a] = ks;
    await ping(a!, '10.0.0.2', 0);
    const fd = await a!.sys.open('/dev/bpf', O_RDWR | O_NONBLOCK);
    await a!.sys.ioctl(fd, BIOCSETF, { bf_insns: bpf_compile('udp port 9') });
    await a!.sys.ioctl(fd, BIOCSETIF, { ifr_name: 'shmif0' });
    expect(await errnoOf(a!.sys.read(fd, new Uint8Array(BPF_DFLTBUFSIZE)))).toBe('EAGAIN');
    await udpBurst(a!, '10.0.0.2', 9, 2);
    await w.advance(5);
    expect(await bpfRead(a!, fd, BPF_DFLTBUFSIZE)).toHaveLength(2);
    await a!.sys.ioctl(fd, FIONBIO, 0);
    await a!.sys.ioctl(fd, BIOCSRTIMEOUT, { tv_sec: 0, tv_usec: 1 });
    /* Blocking again: a 1 µs timeout is one tick, and then a read of nothing. */
    expect(await a!.sys.read(fd, new Uint8Array(BPF_DFLTBUFSIZE))).toBe(0);
    await a!.sys.ioctl(fd, FIONBIO, 1);
    expect(await errnoOf(a!.sys.read(fd, new Uint8Array(BPF_DFLTBUFSIZE)))).toBe('EAGAIN');
  });
});

describe('bpf: modes, writes, other links', () => {
  it('promiscuous mode shows a third kernel the unicast between two others; closing gives it back', async () => {
    const { ks } = await bpfLab(3);
    const [a, , c] = ks;
    /* Warm ARP so the pings are unicast both ways. */
    await ping(a!, '10.0.0.2', 1);
    const plain = await bpfOpen(c!, 'shmif0', { expr: 'icmp', immediate: true });
    const prom = await bpfOpen(c!, 'shmif0', { expr: 'icmp', immediate: true });
    expect(await errnoOf(c!.sys.ioctl(plain.fd, BIOCPROMISC))).toBe('OK');
    await c!.sys.ioctl(plain.fd, BIOCPROMISC);
    await c!.sys.ioctl(prom.fd, BIOCPROMISC);
    const cif = ifunit(c!, 'shmif0')!;
    expect(cif.if_flags & IFF_PROMISC).toBe(IFF_PROMISC);
    expect(cif.if_pcount).toBe(2);
    await ping(a!, '10.0.0.2', 2);
    const recs = await bpfRead(c!, prom.fd, prom.blen);
    expect(recs.map((r) => r.data[34])).toEqual([ICMP_ECHO, ICMP_ECHOREPLY]);
    await c!.sys.close(plain.fd);
    expect(cif.if_flags & IFF_PROMISC).toBe(IFF_PROMISC);
    await c!.sys.close(prom.fd);
    expect(cif.if_flags & IFF_PROMISC).toBe(0);
    expect(cif.if_taps).toHaveLength(0);
    /* Without promiscuous mode, c's bpf sees none of it. */
    const none = await bpfOpen(c!, 'shmif0', { expr: 'icmp' });
    await c!.sys.ioctl(none.fd, FIONBIO, 1);
    await ping(a!, '10.0.0.2', 3);
    expect(await errnoOf(c!.sys.read(none.fd, new Uint8Array(none.blen)))).toBe('EAGAIN');
    expect((await stats(c!, none.fd)).bs_recv).toBe(0);
  });

  it('writes send whole frames; the source address is filled in unless BIOCSHDRCMPLT', async () => {
    const { ks, net, w } = await bpfLab();
    const [a] = ks;
    const sent: Uint8Array[] = [];
    net.bus('bus0').addCapture((buf, len, _t, stage) => { if (stage === 'send') sent.push(buf.slice(0, len)); });
    const fd = await a!.sys.open('/dev/bpf', O_RDWR);
    await a!.sys.ioctl(fd, BIOCSETIF, { ifr_name: 'shmif0' });
    const frame = new Uint8Array(60);
    frame.set(ether_aton('ff:ff:ff:ff:ff:ff')!, 0);
    frame.set(ether_aton('02:00:00:00:00:99')!, 6);
    frame[12] = 0x88;
    frame[13] = 0xb5;
    frame[14] = 0x5a;
    expect(await a!.sys.write(fd, frame)).toBe(60);
    expect(await a!.sys.ioctl(fd, BIOCGHDRCMPLT)).toBe(0);
    await a!.sys.ioctl(fd, BIOCSHDRCMPLT, 1);
    expect(await a!.sys.write(fd, frame)).toBe(60);
    await w.advance(5);
    expect(sent).toHaveLength(2);
    expect(sent[0]!.subarray(6, 12)).toEqual(ifunit(a!, 'shmif0')!.if_sadl);
    expect(sent[1]!.subarray(6, 12)).toEqual(ether_aton('02:00:00:00:00:99'));
    expect(sent[1]![14]).toBe(0x5a);
    /* The writer's own capture saw both as sent frames. */
    await a!.sys.ioctl(fd, FIONBIO, 1);
    const recs = await bpfRead(a!, fd, BPF_DFLTBUFSIZE);
    expect(recs.filter((r) => etype(r.data) === 0x88b5)).toHaveLength(2);
    expect(await errnoOf(a!.sys.write(fd, new Uint8Array(10)))).toBe('EINVAL');
    expect(await errnoOf(a!.sys.write(fd, new Uint8Array(14 + 1501)))).toBe('EMSGSIZE');
    const un = await a!.sys.open('/dev/bpf', O_RDWR);
    expect(await errnoOf(a!.sys.write(un, frame))).toBe('ENXIO');
  });

  it('lo0 is DLT_NULL: the family word, then the IP packet', async () => {
    const { ks } = await bpfLab(1);
    const [a] = ks;
    const { fd, blen } = await bpfOpen(a!, 'lo0', { immediate: true });
    expect(await a!.sys.ioctl(fd, BIOCGDLT)).toBe(DLT_NULL);
    /* lo0 taps once per packet, as sent (NetBSD's bpf_mtap_af on output): received-only sees nothing. */
    const rcvd = await bpfOpen(a!, 'lo0');
    await a!.sys.ioctl(rcvd.fd, BIOCSSEESENT, 0);
    await a!.sys.ioctl(rcvd.fd, FIONBIO, 1);
    await ping(a!, '127.0.0.1', 1);
    expect(await errnoOf(a!.sys.read(rcvd.fd, new Uint8Array(rcvd.blen)))).toBe('EAGAIN');
    expect((await stats(a!, rcvd.fd)).bs_recv).toBe(0);
    await a!.sys.close(rcvd.fd);
    const recs = await bpfRead(a!, fd, blen);
    expect(recs).toHaveLength(2);
    for (const r of recs) {
      expect(r.hdr.bh_hdrlen).toBe(36);
      expect((r.off + r.hdr.bh_hdrlen + 4) % 8).toBe(0);
      expect(Array.from(r.data.subarray(0, 4))).toEqual([AF_INET, 0, 0, 0]);
      expect(r.data[4]).toBe(0x45);
      expect(r.hdr.bh_datalen).toBe(4 + 20 + 8 + 32);
    }
    expect(recs.map((r) => r.data[24])).toEqual([ICMP_ECHO, ICMP_ECHOREPLY]);
    /* A filter over the same layout: the family word is at 0. */
    await a!.sys.ioctl(fd, BIOCSETF, {
      bf_insns: [BPF_STMT(BPF_LD | 0x00 | BPF_ABS, 0), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02000000, 0, 1), BPF_STMT(BPF_RET | BPF_K, 8), BPF_STMT(BPF_RET | BPF_K, 0)],
    });
    await ping(a!, '127.0.0.1', 2);
    const cut = await bpfRead(a!, fd, blen);
    expect(cut.map((r) => r.hdr.bh_caplen)).toEqual([8, 8]);
    /* Writing to lo0: the family word picks the protocol. */
    const s = await a!.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    const ip = new Uint8Array(4 + 20 + 8 + 4);
    ip.set([AF_INET, 0, 0, 0], 0);
    const e = echo(7, 7, new Uint8Array(4));
    const hdr = [0x45, 0, 0, 32, 0, 1, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1];
    ip.set(hdr, 4);
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += (hdr[i]! << 8) | hdr[i + 1]!;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    ip[14] = (~sum >>> 8) & 0xff;
    ip[15] = ~sum & 0xff;
    ip.set(e, 24);
    expect(await a!.sys.write(fd, ip)).toBe(ip.length);
    /* The echo request itself is not given to raw sockets (as NetBSD); its reply is. */
    const got = await recvWithin(a!, s, 1000);
    expect([got.data[20], got.data[24], got.data[25]]).toEqual([ICMP_ECHOREPLY, 0, 7]);
  });

  it('an interface destroyed under a reader: the reader wakes with ENXIO, the descriptor stays closable', async () => {
    const { ks } = await bpfLab();
    const [a] = ks;
    const { fd, blen } = await bpfOpen(a!, 'shmif0');
    const rd = errnoOf(a!.sys.read(fd, new Uint8Array(blen)));
    const s = await a!.sys.socket(AF_INET, SOCK_DGRAM);
    await a!.sys.ioctl(s, SIOCIFDESTROY, { ifr_name: 'shmif0' });
    expect(await rd).toBe('ENXIO');
    const fds = [{ fd, events: POLLIN, revents: 0 }];
    expect(await a!.sys.poll(fds, 0)).toBe(1);
    expect(await errnoOf(a!.sys.ioctl(fd, BIOCGDLT))).toBe('EINVAL');
    await a!.sys.close(fd);
  });
});

describe('bpf: bad requests', () => {
  it('refuses what NetBSD refuses, with its errno', async () => {
    const { ks } = await bpfLab(1);
    const [a] = ks;
    const fd = await a!.sys.open('/dev/bpf', O_RDWR);
    expect(await a!.sys.ioctl(fd, BIOCVERSION)).toEqual({ bv_major: 1, bv_minor: 1 });
    expect(await a!.sys.ioctl(fd, BIOCGBLEN)).toBe(BPF_DFLTBUFSIZE);
    expect(await a!.sys.ioctl(fd, BIOCSBLEN, 1)).toBe(BPF_MINBUFSIZE);
    expect(await a!.sys.ioctl(fd, BIOCSBLEN, 1 << 30)).toBe(BPF_MAXBUFSIZE);
    expect(await a!.sys.ioctl(fd, BIOCSBLEN, 8192)).toBe(8192);
    expect(await errnoOf(a!.sys.ioctl(fd, BIOCSBLEN, 'big'))).toBe('EINVAL');
    /* Not attached yet. */
    for (const cmd of [BIOCGDLT, BIOCGETIF, BIOCPROMISC]) expect(await errnoOf(a!.sys.ioctl(fd, cmd))).toBe('EINVAL');
    expect(await errnoOf(a!.sys.read(fd, new Uint8Array(8192)))).toBe('ENXIO');
    expect(await errnoOf(a!.sys.write(fd, new Uint8Array(60)))).toBe('ENXIO');
    expect(await errnoOf(a!.sys.ioctl(fd, BIOCSETIF, { ifr_name: 'nosuch0' }))).toBe('ENXIO');
    expect(await errnoOf(a!.sys.ioctl(fd, BIOCSETIF, { ifr_name: 7 }))).toBe('EINVAL');
    expect(await errnoOf(a!.sys.ioctl(fd, BIOCSETIF, null))).toBe('EINVAL');
    /* Filters bpf_validate refuses, and malformed program objects. */
    const bad: unknown[] = [
      { bf_insns: [BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12)] },
      { bf_insns: [BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 1, 5, 0), BPF_STMT(BPF_RET | BPF_K, 0)] },
      { bf_insns: [{ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 'x' }] },
      { bf_insns: [{ code: 0xfff, jt: 0, jf: 0, k: 0 }] },
      { bf_insns: [null] },
      { bf_insns: 'ret #0' },
      { bf_len: 2, bf_insns: [BPF_STMT(BPF_RET | BPF_K, 0)] },
      { bf_len: 1 },
      { bf_insns: new Array(513).fill(BPF_STMT(BPF_RET | BPF_K, 0)) },
      42,
    ];
    for (const p of bad) expect(await errnoOf(a!.sys.ioctl(fd, BIOCSETF, p))).toBe('EINVAL');
    /* Removing the filter is fine, in every spelling. */
    for (const p of [null, { bf_insns: [] }, { bf_len: 0 }]) expect(await errnoOf(a!.sys.ioctl(fd, BIOCSETF, p))).toBe('OK');
    for (const tv of [{ tv_sec: -1, tv_usec: 0 }, { tv_sec: 0, tv_usec: 1_000_000 }, { tv_sec: 1.5, tv_usec: 0 }, null]) {
      expect(await errnoOf(a!.sys.ioctl(fd, BIOCSRTIMEOUT, tv))).toBe('EINVAL');
    }
    expect(await errnoOf(a!.sys.ioctl(fd, BIOCIMMEDIATE, 'yes'))).toBe('EINVAL');
    expect(await errnoOf(a!.sys.ioctl(fd, 0x4004_42ff))).toBe('EINVAL');
    await a!.sys.ioctl(fd, BIOCSETIF, { ifr_name: 'shmif0' });
    expect(await errnoOf(a!.sys.ioctl(fd, BIOCSBLEN, 4096))).toBe('EINVAL');
    expect(await a!.sys.ioctl(fd, BIOCGBLEN)).toBe(8192);
    /* Moving to another interface is allowed, and empties the buffers. */
    await a!.sys.ioctl(fd, BIOCSETIF, { ifr_name: 'lo0' });
    expect(await a!.sys.ioctl(fd, BIOCGDLT)).toBe(DLT_NULL);
    expect(bpf_listeners(a!, ifunit(a!, 'shmif0')!)).toBe(0);
    expect(ifunit(a!, 'shmif0')!.if_taps).toHaveLength(0);
    expect(bpf_listeners(a!, ifunit(a!, 'lo0')!)).toBe(1);
    await a!.sys.close(fd);
    expect(ifunit(a!, 'lo0')!.if_taps).toHaveLength(0);
    /* The addresses used in this file are the lab's. */
    expect(a4('10.0.0.1')).toBe(0x0a000001);
  });
});
