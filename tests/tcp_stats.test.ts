/*
 * TCP's observability: net.inet.tcp.stats with NetBSD's counter names
 * (and a counter at each kind of drop), the PCB listing netstat -an
 * prints (net.inet.tcp.pcblist), and the SO_DEBUG trace ring
 * (net.inet.tcp.debug, debx) with its trpt-style formatting.
 */
import { describe, it, expect } from 'vitest';
import { AF_INET, SO_DEBUG, SO_RCVBUF, SOCK_STREAM, SOL_SOCKET } from '../include/socket.ts';
import { IPPROTO_TCP } from '../net/lib/libnetinet/in.ts';
import { tcp_debug_format, tcp_debug_read, type TcpDebugRecord } from '../net/lib/libnetinet/tcp_debug.ts';
import { tcpstates } from '../net/lib/libnetinet/tcp_fsm.ts';
import { tcp_netstat, tcpstat_read, type TcpPcbInfo } from '../net/lib/libnetinet/tcp_usrreq.ts';
import { inet_stats } from '../net/lib/libnetinet/netinet_component.ts';
import {
  RawPeer, TH_ACK, TH_SYN, a4, capture, connect, pair, pattern, readn, sin, sysctl, until, writeall,
} from './tcp_helpers.ts';

describe('TCP statistics', () => {
  it('net.inet.tcp.stats carries NetBSD\'s counters, also in inet_stats()', async () => {
    const p = await pair();
    const { c, s } = await connect(p);
    await Promise.all([writeall(p.a, c, pattern(100_000)), readn(p.b, s, 100_000)]);
    const st = await sysctl(p.a, 'net.inet.tcp.stats') as Record<string, number>;
    for (const name of ['tcps_connattempt', 'tcps_accepts', 'tcps_connects', 'tcps_drops', 'tcps_conndrops', 'tcps_closed',
      'tcps_segstimed', 'tcps_rttupdated', 'tcps_delack', 'tcps_timeoutdrop', 'tcps_rexmttimeo', 'tcps_persisttimeo',
      'tcps_keeptimeo', 'tcps_keepprobe', 'tcps_keepdrops', 'tcps_sndtotal', 'tcps_sndpack', 'tcps_sndbyte',
      'tcps_sndrexmitpack', 'tcps_sndacks', 'tcps_sndprobe', 'tcps_sndwinup', 'tcps_sndctrl', 'tcps_rcvtotal',
      'tcps_rcvpack', 'tcps_rcvbyte', 'tcps_rcvbadsum', 'tcps_rcvbadoff', 'tcps_rcvshort', 'tcps_rcvduppack',
      'tcps_rcvoopack', 'tcps_rcvpackafterwin', 'tcps_rcvafterclose', 'tcps_rcvwinprobe', 'tcps_rcvdupack',
      'tcps_rcvacktoomuch', 'tcps_rcvackpack', 'tcps_rcvackbyte', 'tcps_rcvwinupd', 'tcps_pawsdrop', 'tcps_predack',
      'tcps_preddat', 'tcps_pcbhashmiss', 'tcps_noport', 'tcps_badsyn', 'tcps_selfquench']) {
      expect(st).toHaveProperty(name);
    }
    expect(st.tcps_sndbyte).toBe(100_000);
    expect(st.tcps_connattempt).toBe(1);
    expect(inet_stats(p.b).tcp.tcps_rcvbyte).toBe(100_000);
  });

  it('malformed segments are counted where they are dropped', async () => {
    const p = await pair();
    const peer = new RawPeer(p.bus, p.b, '10.0.0.3', '10.0.0.2');
    const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
    await p.b.sys.bind(ls, sin('0.0.0.0', 80));
    await p.b.sys.listen(ls, 5);
    /* A segment whose checksum a bit flip broke: the bus's corrupt fault on one frame. */
    p.bus.setFaults({ seed: 5, corrupt: 1, filter: (b) => b[23] === IPPROTO_TCP && b[26 + 3] === 3 });
    peer.send({ sport: 1, dport: 80, seq: 1, flags: TH_SYN });
    await p.L.w.advance(1);
    p.bus.setFaults(null);
    /* A header length past the segment, and one below 20. */
    const f = (mutate: (seg: Uint8Array) => void): void => {
      const frame = new Uint8Array(14 + 20 + 20);
      const kmac = p.b.ifnet!.byname.get('shmif0')!.if_sadl;
      frame.set(kmac, 0);
      frame.set(peer.mac, 6);
      frame[12] = 0x08;
      frame[14] = 0x45;
      frame[16] = 0;
      frame[17] = 40;
      frame[22] = 64;
      frame[23] = IPPROTO_TCP;
      const src = a4('10.0.0.3');
      const dst = a4('10.0.0.2');
      for (let i = 0; i < 4; i++) {
        frame[26 + i] = (src >>> (24 - 8 * i)) & 0xff;
        frame[30 + i] = (dst >>> (24 - 8 * i)) & 0xff;
      }
      let sum = 0;
      for (let i = 14; i < 34; i += 2) sum += (frame[i]! << 8) | frame[i + 1]!;
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      sum = ~sum & 0xffff;
      frame[24] = sum >>> 8;
      frame[25] = sum & 0xff;
      const seg = frame.subarray(34);
      seg[1] = 1;
      seg[3] = 80;
      seg[13] = TH_ACK;
      mutate(seg);
      /* TCP checksum over the pseudo-header. */
      let t = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IPPROTO_TCP + 20;
      seg[16] = seg[17] = 0;
      for (let i = 0; i < 20; i += 2) t += (seg[i]! << 8) | seg[i + 1]!;
      while (t > 0xffff) t = (t & 0xffff) + (t >>> 16);
      t = ~t & 0xffff;
      seg[16] = t >>> 8;
      seg[17] = t & 0xff;
      expect(p.bus.inject(frame)).toBe(0);
    };
    f((seg) => { seg[12] = 6 << 4; });
    f((seg) => { seg[12] = 4 << 4; });
    await p.L.w.advance(1);
    const st = tcpstat_read(p.b);
    expect(st.tcps_rcvbadsum).toBe(1);
    expect(st.tcps_rcvbadoff).toBe(2);
    expect(peer.got.length).toBe(0);
  });
});

describe('TCP PCB listing (netstat -an)', () => {
  it('lists listeners and connections with addresses, ports, states and queues', async () => {
    const p = await pair();
    const { c, s } = await connect(p);
    await p.b.sys.setsockopt(s, SOL_SOCKET, SO_RCVBUF, 8192);
    const lport = (await p.a.sys.getsockname(c) as { sin_port: number }).sin_port;
    /* b does not read: its Recv-Q fills and a's Send-Q holds what it could not send. */
    const w = writeall(p.a, c, pattern(60_000));
    await until(p.L.w, () => (tcpstatsq(p.a) > 0), 10_000);
    await p.L.w.advance(100);
    const rows = await sysctl(p.b, 'net.inet.tcp.pcblist') as TcpPcbInfo[];
    expect(rows.find((r) => r.state === 'LISTEN')).toMatchObject({ laddr: '0.0.0.0', lport: 80, faddr: '0.0.0.0', fport: 0 });
    const conn = rows.find((r) => r.state === 'ESTABLISHED')!;
    expect(conn).toMatchObject({ laddr: '10.0.0.2', lport: 80, faddr: '10.0.0.1', fport: lport });
    expect(conn.recvq).toBeGreaterThan(0);
    const text = tcp_netstat(p.a);
    expect(text).toMatch(/^Active Internet connections \(including servers\)\n/);
    expect(text).toMatch(new RegExp(`tcp\\s+0\\s+\\d+\\s+10\\.0\\.0\\.1\\.${lport}\\s+10\\.0\\.0\\.2\\.80\\s+ESTABLISHED`));
    expect(tcp_netstat(p.b)).toMatch(/tcp\s+0\s+0\s+\*\.80\s+\*\.\*\s+LISTEN/);
    await readn(p.b, s, 60_000);
    await w;
    await p.a.sys.close(c);
    await p.b.sys.close(s);
    await p.L.w.advance(10);
    expect(tcp_netstat(p.a)).toMatch(/TIME_WAIT/);
  });
});

function tcpstatsq(k: Parameters<typeof tcp_netstat>[0]): number {
  return (k.tcp!.tcbtable.inpt_queue[0]?.inp_socket.so_snd.sb_cc) ?? 0;
}

describe('TCP SO_DEBUG trace ring', () => {
  it('records the states, segments and windows of SO_DEBUG sockets only, as trpt reads them', async () => {
    const p = await pair();
    const cap = capture(p.bus);
    const x = await p.a.sys.socket(AF_INET, SOCK_STREAM);
    await p.a.sys.setsockopt(x, SOL_SOCKET, SO_DEBUG, 1);
    expect(await p.a.sys.getsockopt(x, SOL_SOCKET, SO_DEBUG)).toBe(1);
    const ls = await p.b.sys.socket(AF_INET, SOCK_STREAM);
    await p.b.sys.bind(ls, sin('0.0.0.0', 80));
    await p.b.sys.listen(ls, 5);
    const acc = p.b.sys.accept(ls);
    await p.a.sys.connect(x, sin('10.0.0.2', 80));
    const { fd } = await acc;
    await p.a.sys.send(x, new TextEncoder().encode('traced'));
    await readn(p.b, fd, 6);
    await p.a.sys.close(x);
    await p.L.w.advance(10);
    const tr = tcp_debug_read(p.a);
    expect(tcp_debug_read(p.b)).toEqual([]);
    const syn = tr.find((t: TcpDebugRecord) => t.td_act === 1 && (t.th_flags & TH_SYN) !== 0)!;
    expect(syn.td_req).toBe('');
    expect(tcpstates[syn.td_nstate]).toBe('SYN_SENT');
    expect(syn.th_seq).toBe(cap.segs[0]!.seq);
    expect(tr.filter((t) => t.td_act === 2).map((t) => t.td_req)).toEqual(['connect', 'detach']);
    expect(tr.some((t) => t.td_act === 1 && t.th_len === 6)).toBe(true);
    const line = tcp_debug_format(syn);
    expect(line).toMatch(/output 10\.0\.0\.1\.\d+ > 10\.0\.0\.2\.80 SYN_SENT -> SYN_SENT \[\d+\.\.\d+\)@0 <SYN> win \d+ \| una \d+ .*cwnd \d+ ssthresh \d+/);
    const viaSysctl = await sysctl(p.a, 'net.inet.tcp.debug') as TcpDebugRecord[];
    expect(viaSysctl.length).toBe(tr.length);
    expect(await sysctl(p.a, 'net.inet.tcp.debx')).toBe(tr.length % 100);
    /* The ring keeps the last debug_size entries. */
    await sysctl(p.a, 'net.inet.tcp.debug_size', 5);
    expect(tcp_debug_read(p.a).length).toBeLessThanOrEqual(tr.length);
    expect(IPPROTO_TCP).toBe(6);
  });
});
