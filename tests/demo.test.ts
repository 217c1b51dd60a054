/*
 * The main demo (examples/boot.ts, npm start) as a user runs it: a child
 * process on the real Node host that must finish by itself within
 * seconds, print its key lines (kernels booted, 1,000 requests and their
 * rate, the server's TIME_WAIT connections, TCP statistics, interface
 * counters, where the capture went) and leave a pcap that tshark reads
 * with every request in it and nothing malformed.
 *
 * tshark is required (Debian: apt-get install tshark); the test fails,
 * not skips, without it.
 */

import { describe, it, expect } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  code: number | null;
  killed: boolean;
  out: string;
  err: string;
  ms: number;
}

function runDemo(args: string[], limitMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/boot.ts', ...args], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUMP_VERBOSE: '0' },
    });
    let out = '';
    let err = '';
    let killed = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; });
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, killed, out, err, ms: performance.now() - t0 });
    });
  });
}

function tshark(file: string, ...args: string[]): string {
  try {
    execFileSync('which', ['tshark'], { encoding: 'utf8' });
  } catch {
    throw new Error('tshark is not installed: apt-get install -y tshark (Debian) to run the demo test');
  }
  return execFileSync('tshark', ['-r', file, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
}

/** Frames of the capture that match a display filter. */
function count(file: string, filter: string): number {
  return tshark(file, '-Y', filter, '-T', 'fields', '-e', 'frame.number').split('\n').filter((l) => l !== '').length;
}

describe('the main demo (npm start)', { timeout: 120_000 }, () => {
  it('runs two kernels, node:http over their TCP, prints what happened, writes a pcap tshark reads, and exits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rumpts-demo-'));
    try {
      const pcap = join(dir, 'demo.pcap');
      const r = await runDemo(['--pcap', pcap], 60_000);
      const why = `exit ${r.code} after ${r.ms.toFixed(0)} ms${r.killed ? ' (killed)' : ''}\nstdout:\n${r.out}\nstderr:\n${r.err}`;
      expect(r.killed, why).toBe(false);
      expect(r.code, why).toBe(0);
      expect(r.err, why).toBe('');
      const lines = r.out.split('\n');
      const has = (re: RegExp): RegExpMatchArray => {
        const m = lines.map((l) => re.exec(l)).find((x) => x !== null);
        expect(m, `no line matching ${re}\n${why}`).toBeTruthy();
        return m!;
      };
      has(/^server: NetBSD 10\.0 \(RUMP-ROAST\) rumpts/);
      has(/^server: components: rumpkern rumpnet rumpnet_net rumpnet_netinet rumpnet_shmif$/);
      has(/^\tinet 10\.0\.0\.2\/24 broadcast 10\.0\.0\.255/);
      has(/^first reply: hello 10\.0\.0\.1:\d+, this is server \(GET \/\d+\)$/);
      const rate = has(/^1000 requests over 1000 connections in ([\d.]+) s: (\d+) requests\/s$/);
      expect(Number(rate[2])).toBeGreaterThan(0);

      /* The listing: the server's TIME_WAITs, with their time left and MSL class. */
      has(/^Proto Recv-Q Send-Q {2}Local Address {10}Foreign Address {8}State {9}Expires$/);
      has(/^tcp +0 +0 +\*\.80 +\*\.\* +LISTEN/);
      has(/^tcp +0 +0 +10\.0\.0\.2\.80 +10\.0\.0\.1\.\d+ +TIME_WAIT +\d+\.\d+ms local$/);
      const st = has(/^connections by state: 1 LISTEN, (\d+) TIME_WAIT$/);
      const timeWaits = Number(st[1]);
      /* One per client port: a few ports come up twice among 1000 draws, and reopen their TIME_WAIT. */
      expect(timeWaits).toBeGreaterThan(900);
      expect(timeWaits).toBeLessThanOrEqual(1000);
      if (timeWaits < 1000) has(new RegExp(`^\\(the client drew ${timeWaits} different ports for 1000 connections`));

      /* TCP statistics and interface counters. */
      has(/^\t1000 connection accepts$/);
      has(/^\t1000 connections established \(including accepts\)$/);
      const ifs = lines.filter((l) => /^shmif0 +1500 +10\.0\.0\/24/.test(l));
      expect(ifs.length, why).toBe(2);
      for (const l of ifs) expect(Number(l.trim().split(/\s+/)[4])).toBeGreaterThan(3000);

      /* The capture: where it is, how to open it, and tshark agrees with what it says. */
      const cap = has(/^# packet capture of wire0: (\d+) frames written to (.+)$/);
      expect(cap[2]).toBe(pcap);
      has(new RegExp(`^open it in Wireshark: +wireshark ${pcap.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
      expect(statSync(pcap).size).toBeGreaterThan(100_000);
      expect(count(pcap, 'frame')).toBe(Number(cap[1]));
      expect(count(pcap, 'http.request.method == "GET"')).toBe(1000);
      expect(count(pcap, 'http.response.code == 200')).toBe(1000);
      expect(count(pcap, 'tcp.flags.syn == 1 && tcp.flags.ack == 0')).toBe(1000);
      expect(count(pcap, '_ws.malformed || _ws.expert.severity == error')).toBe(0);
      /* The server's FIN comes first on every connection: its FIN is the one sent by port 80 before any from the client. */
      const fins = tshark(pcap, '-Y', 'tcp.flags.fin == 1', '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.dstport')
        .split('\n').filter((l) => l !== '').map((l) => l.split('\t').map(Number) as [number, number]);
      const firstFin = new Map<number, number>();
      for (const [src, dst] of fins) {
        const client = src === 80 ? dst : src;
        if (!firstFin.has(client)) firstFin.set(client, src);
      }
      expect([...firstFin.values()].every((src) => src === 80)).toBe(true);

      has(/^kernels client and server: halted, halted$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad option is refused with a message naming it, exit status 2', async () => {
    const r = await runDemo(['-n', 'lots'], 30_000);
    expect(r.code).toBe(2);
    expect(r.err).toBe('boot: -n needs a positive number\nusage: npm start -- [-n requests] [-c concurrency] [--pcap file]\n');
    expect(r.out).toBe('');
  });
});
