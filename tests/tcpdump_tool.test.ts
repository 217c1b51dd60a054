/*
 * rump.tcpdump (bin/rump.tcpdump.ts) run embedded: main(k.sys, argv, io)
 * against sim kernels on a shmif bus while traffic flows.  The printed
 * lines (tcpdump -n style, pktprint's decode), -c, the filter expression,
 * promiscuous mode and -p, lo0, the choice of interface, a pcap file (-w,
 * -s) that tshark must read whole and clean, the end of a capture when
 * the kernel halts, and the messages and exit status of bad command
 * lines, expressions, interfaces and a kernel without /dev/bpf.
 *
 * tshark is required (Debian: apt-get install tshark); the file test
 * fails, not skips, without it.
 */

import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echo, lab, recvWithin, sin } from './inet_helpers.ts';
import { bpfLab } from './bpf_dev_helpers.ts';
import type { Kernel } from '../librump/rumpkern/rump.ts';
import type { SimWorld } from '../librump/rumpuser/sim.ts';
import { main } from '../bin/rump.tcpdump.ts';
import type { ToolIO } from '../bin/tool.ts';
import { ifunit } from '../net/lib/libnet/if.ts';
import { pcap_parse } from '../net/lib/libnet/pcap.ts';
import { IPPROTO_ICMP } from '../net/lib/libnetinet/in.ts';
import { IFF_PROMISC } from '../include/if.ts';
import { AF_INET, SOCK_RAW, SOCK_STREAM } from '../include/socket.ts';

interface Run {
  out: string[];
  err: string[];
  status: Promise<number>;
}

function run(k: Kernel, argv: string[]): Run {
  const out: string[] = [];
  const err: string[] = [];
  const io: ToolIO = { out: (s) => { out.push(s); }, err: (s) => { err.push(s); } };
  return { out, err, status: main(k.sys, argv, io) };
}

/** Let the tool reach its read loop (it says "listening on" first). */
async function listening(w: SimWorld, r: Run): Promise<void> {
  for (let i = 0; i < 1000 && !r.err.join('').includes('listening on'); i++) await w.advance(1);
  expect(r.err.join('')).toContain('listening on');
}

async function ping(k: Kernel, to: string, seq: number): Promise<void> {
  const s = await k.sys.socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  await k.sys.sendto(s, echo(0x99, seq, new Uint8Array(12).fill(seq)), 0, sin(to));
  for (;;) {
    const r = await recvWithin(k, s, 5000);
    if (r.data[(r.data[0]! & 15) * 4] === 0) break;
  }
  await k.sys.close(s);
}

function tshark(): string {
  try {
    return execFileSync('which', ['tshark'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('tshark is not installed: apt-get install -y tshark (Debian) to run the capture tests');
  }
}

const TIME = /^\d\d:\d\d:\d\d\.\d{6} /;

describe('rump.tcpdump printing', () => {
  it('prints one line per packet in tcpdump -n style, stops after -c, reports the counts', async () => {
    const { w, ks } = await bpfLab();
    const [a] = ks;
    await ping(a!, '10.0.0.2', 0);
    const r = run(a!, ['-n', '-i', 'shmif0', '-c', '4', 'icmp']);
    await listening(w, r);
    await ping(a!, '10.0.0.2', 1);
    await ping(a!, '10.0.0.2', 2);
    expect(await r.status).toBe(0);
    const lines = r.out.join('').split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l).toMatch(TIME);
    expect(lines.map((l) => l.replace(TIME, ''))).toEqual([
      '10.0.0.1 > 10.0.0.2: ICMP echo request, id 153, seq 1, length 20',
      '10.0.0.2 > 10.0.0.1: ICMP echo reply, id 153, seq 1, length 20',
      '10.0.0.1 > 10.0.0.2: ICMP echo request, id 153, seq 2, length 20',
      '10.0.0.2 > 10.0.0.1: ICMP echo reply, id 153, seq 2, length 20',
    ]);
    /* The sim world starts at 2026-01-01T00:00:00Z: the stamps are a few seconds into the day, in UTC. */
    expect(lines[0]!.startsWith('00:00:')).toBe(true);
    const err = r.err.join('');
    expect(err).toContain('tcpdump: verbose output suppressed, use -v[v]... for full protocol decode\n');
    expect(err).toContain('listening on shmif0, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n');
    expect(err).toMatch(/4 packets captured\n\d+ packets received by filter\n0 packets dropped by kernel\n$/);
    /* The descriptor and promiscuous mode are released. */
    const ifp = ifunit(a!, 'shmif0')!;
    expect(ifp.if_taps).toHaveLength(0);
    expect(ifp.if_flags & IFF_PROMISC).toBe(0);
  });

  it('is promiscuous by default, so a third kernel sees the others talk; -p is not', async () => {
    const { w, ks } = await bpfLab(3);
    const [a, , c] = ks;
    await ping(a!, '10.0.0.2', 0);
    const r = run(c!, ['-i', 'shmif0', '-c', '2', 'icmp']);
    await listening(w, r);
    expect(ifunit(c!, 'shmif0')!.if_flags & IFF_PROMISC).toBe(IFF_PROMISC);
    await ping(a!, '10.0.0.2', 1);
    expect(await r.status).toBe(0);
    expect(r.out.join('')).toContain('10.0.0.1 > 10.0.0.2: ICMP echo request');
    const p = run(c!, ['-p', '-i', 'shmif0', '-c', '1', 'icmp']);
    await listening(w, p);
    expect(ifunit(c!, 'shmif0')!.if_flags & IFF_PROMISC).toBe(0);
    await ping(a!, '10.0.0.2', 2);
    expect(p.out).toEqual([]);
    /* Traffic to c itself ends it. */
    await ping(a!, '10.0.0.3', 3);
    expect(await p.status).toBe(0);
    expect(p.out.join('')).toContain('10.0.0.1 > 10.0.0.3: ICMP echo request');
  });

  it('picks the first interface that is up and not a loopback; prints lo0 (link type NULL) as IP', async () => {
    const { w, ks } = await bpfLab(1);
    const [a] = ks;
    const d = run(a!, ['-c', '1']);
    await listening(w, d);
    expect(d.err.join('')).toContain('listening on shmif0');
    await ping(a!, '10.0.0.1', 1);
    await ping(a!, '127.0.0.1', 1);
    const lo = run(a!, ['-i', 'lo0', '-c', '2']);
    await listening(w, lo);
    await ping(a!, '127.0.0.1', 2);
    expect(await lo.status).toBe(0);
    expect(lo.err.join('')).toContain('listening on lo0, link-type NULL (BSD loopback), snapshot length 262144 bytes');
    expect(lo.out.join('').split('\n').filter((l) => l !== '').map((l) => l.replace(TIME, ''))).toEqual([
      '127.0.0.1 > 127.0.0.1: ICMP echo request, id 153, seq 2, length 20',
      '127.0.0.1 > 127.0.0.1: ICMP echo reply, id 153, seq 2, length 20',
    ]);
    const b = run(a!, ['-i', 'lo0', 'icmp']);
    expect(await b.status).toBe(1);
    expect(b.err.join('')).toBe('tcpdump: lo0: filter expressions are not supported on link type NULL (BSD loopback)\n');
    await a!.halt();
    expect(await d.status).toBe(0);
  });

  it('ends cleanly when the kernel halts under it', async () => {
    const { w, ks } = await bpfLab(1);
    const [a] = ks;
    const r = run(a!, ['-i', 'shmif0']);
    await listening(w, r);
    await a!.halt();
    expect(await r.status).toBe(0);
    expect(r.err.join('')).toContain('0 packets captured\n');
  });
});

describe('rump.tcpdump -w', () => {
  it('writes a pcap file of a TCP connection that tshark reads whole, with -s cutting frames', async () => {
    const bin = tshark();
    const { w, ks } = await bpfLab();
    const [a, b] = ks;
    await ping(a!, '10.0.0.2', 0);
    const dir = mkdtempSync(join(tmpdir(), 'rumpts-tcpdump-'));
    try {
      const file = join(dir, 'tcp.pcap');
      const cut = join(dir, 'cut.pcap');
      const r = run(a!, ['-i', 'shmif0', '-c', '6', '-w', file, 'tcp', 'port', '8080']);
      const rc = run(b!, ['-i', 'shmif0', '-s', '60', '-c', '6', '-w', cut, 'tcp port 8080']);
      await listening(w, r);
      await listening(w, rc);
      expect(r.err.join('')).toBe('tcpdump: listening on shmif0, link-type EN10MB (Ethernet), snapshot length 262144 bytes\n');
      const ls = await b!.sys.socket(AF_INET, SOCK_STREAM);
      await b!.sys.bind(ls, sin('0.0.0.0', 8080));
      await b!.sys.listen(ls, 1);
      const c = await a!.sys.socket(AF_INET, SOCK_STREAM);
      await a!.sys.connect(c, sin('10.0.0.2', 8080));
      const { fd } = await b!.sys.accept(ls);
      await a!.sys.write(c, new Uint8Array(1000).fill(0x41));
      const got = new Uint8Array(2000);
      let n = 0;
      while (n < 1000) n += await b!.sys.read(fd, got.subarray(n));
      await a!.sys.close(c);
      await b!.sys.close(fd);
      expect(await r.status).toBe(0);
      expect(await rc.status).toBe(0);
      expect(r.out).toEqual([]);
      expect(r.err.join('')).toContain('6 packets captured\n');
      const f = pcap_parse(new Uint8Array(readFileSync(file)));
      expect(f).toMatchObject({ linktype: 1, snaplen: 262144, nanosecond: false });
      expect(f.records).toHaveLength(6);
      const fields = (path: string, e: string[], filter?: string): string[][] => {
        const args = ['-r', path, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-T', 'fields'];
        for (const x of e) args.push('-e', x);
        if (filter !== undefined) args.push('-Y', filter);
        return execFileSync(bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
      };
      const rows = fields(file, ['ip.src', 'ip.dst', 'tcp.dstport', 'tcp.flags.syn', 'tcp.flags.ack', 'tcp.len']);
      expect(rows).toHaveLength(6);
      expect(rows.slice(0, 3).map((x) => [x[0], x[3], x[4]])).toEqual([['10.0.0.1', '1', '0'], ['10.0.0.2', '1', '1'], ['10.0.0.1', '0', '1']]);
      expect(rows.some((x) => x[5] === '1000')).toBe(true);
      /* Nothing malformed, no bad checksum. */
      expect(fields(file, ['frame.number'], '_ws.malformed || _ws.expert.severity >= "error" || tcp.checksum.status == "Bad" || ip.checksum.status == "Bad"')).toEqual([]);
      /* The time stamps are the kernel's (virtual) clock: 2026. */
      expect(Number(fields(file, ['frame.time_epoch'])[0]![0])).toBeGreaterThan(Date.UTC(2026, 0, 1) / 1000);
      /* -s 60: every frame cut to 60 bytes, the original length kept. */
      const cr = fields(cut, ['frame.cap_len', 'frame.len']);
      expect(cr).toHaveLength(6);
      for (const [capLen, len] of cr) expect(Number(capLen)).toBe(Math.min(60, Number(len)));
      expect(cr.some(([, len]) => Number(len) > 1000)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file it cannot write, and -w -', async () => {
    const { ks } = await bpfLab(1);
    const [a] = ks;
    const r = run(a!, ['-i', 'shmif0', '-w', '/nonexistent-dir/x.pcap']);
    expect(await r.status).toBe(1);
    expect(r.err.join('')).toMatch(/^tcpdump: \/nonexistent-dir\/x\.pcap: .*no such file or directory/i);
    const d = run(a!, ['-w', '-']);
    expect(await d.status).toBe(1);
    expect(d.err.join('')).toContain('standard output is not supported');
  });
});

describe('rump.tcpdump errors', () => {
  it('bad options, counts, sizes and expressions: a message and status 1, the kernel untouched', async () => {
    const { ks } = await bpfLab(1);
    const [a] = ks;
    const cases: [string[], RegExp][] = [
      [['-x'], /^tcpdump: illegal option -- x\nusage: rump\.tcpdump /],
      [['-c'], /^tcpdump: option requires an argument -- c\nusage: /],
      [['-c', '0'], /^tcpdump: invalid packet count 0\n$/],
      [['-c', 'ten'], /^tcpdump: invalid packet count ten\n$/],
      [['-s', '999999'], /^tcpdump: invalid snaplen 999999\n$/],
      [['-B', '-1'], /^tcpdump: invalid packet buffer size -1\n$/],
      [['-i', 'shmif0', 'tcp', 'port'], /^tcpdump: syntax error: .* at position 8\n$/],
      [['-i', 'shmif0', 'host', 'nosuchhost'], /^tcpdump: unknown host 'nosuchhost'/],
    ];
    const nfiles = a!.nfiles;
    for (const [argv, want] of cases) {
      const r = run(a!, argv);
      expect(await r.status, argv.join(' ')).toBe(1);
      expect(r.err.join(''), argv.join(' ')).toMatch(want);
      expect(r.out).toEqual([]);
    }
    expect(a!.nfiles).toBe(nfiles);
  });

  it('an unknown interface, a kernel without bpf, a kernel with no interface up', async () => {
    const { ks } = await bpfLab(1);
    const [a] = ks;
    const nfiles = a!.nfiles;
    const r = run(a!, ['-i', 'nosuch0']);
    expect(await r.status).toBe(1);
    expect(r.err.join('')).toBe('tcpdump: BIOCSETIF: nosuch0: Device not configured\n');
    expect(a!.nfiles).toBe(nfiles);
    /* The inet lab's kernels have no rumpdev_bpf. */
    const L = lab(3);
    const k = await L.boot('plain');
    const nb = run(k, ['-i', 'lo0']);
    expect(await nb.status).toBe(1);
    expect(nb.err.join('')).toBe('tcpdump: /dev/bpf: No such file or directory\n');
    const nd = run(k, []);
    expect(await nd.status).toBe(1);
    expect(nd.err.join('')).toBe('tcpdump: no suitable device found (give one with -i)\n');
  });
});
