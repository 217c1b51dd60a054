/*
 * bpf_compile: the tcpdump filter language to classic BPF (what libpcap's
 * pcap_compile does; its grammar and its meaning of every primitive are
 * the model, the code is ours).  Link type DLT_EN10MB only.
 *
 * Pipeline:
 *   lexer      -> tokens with their positions (errors say where);
 *   parser     -> a boolean tree whose leaves are "tests": straight-line
 *                 statements that leave a value in A, then one conditional
 *                 jump (as libpcap's blocks);
 *   generator  -> short-circuit code: and/or/not become jump targets, so
 *                 no boolean is ever materialised; jumps whose offset would
 *                 not fit in 8 bits go through `ja` trampolines.
 * There is no optimiser: programs are longer than tcpdump's, but they
 * accept exactly the same packets (tests/bpf_tcpdump.test.ts checks that
 * against tcpdump -dd).  What matters for that, beyond the obvious:
 *   - and/or have equal precedence and group to the left, as in libpcap;
 *   - a load past the end of the packet rejects the whole packet, even
 *     under `not`, so tests run their loads in libpcap's order (source
 *     before destination; protocol checks before the loads they guard);
 *   - ports are only looked for in IPv4 first fragments (ip_off & 0x1fff
 *     == 0) and, for IPv6, only right after the fixed header;
 *   - `tcp`/`udp` also match IPv6 (with one fragment header allowed),
 *     `host`/`net` also match ARP and RARP addresses, `icmp` is IPv4 only.
 */

import {
  BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JA, BPF_JEQ, BPF_JGE,
  BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MAXINSNS, BPF_MEM, BPF_MEMWORDS,
  BPF_MISC, BPF_MOD, BPF_MSH, BPF_MUL, BPF_NEG, BPF_OR, BPF_RET, BPF_RSH, BPF_ST, BPF_SUB, BPF_TAX, BPF_W,
  BPF_X, BPF_XOR, DLT_EN10MB, type BpfInsn,
} from '../../../include/bpf.ts';

/** A compile error; pos is the 0-based character offset of the offending token. */
export class BpfCompileError extends Error {
  constructor(
    msg: string,
    readonly pos: number,
  ) {
    super(`${msg} at position ${pos}`);
    this.name = 'BpfCompileError';
  }
}

export interface BpfCompileOptions {
  /** What an accepted packet returns (bytes to capture); tcpdump's default 262144. */
  snaplen?: number;
  /** Only DLT_EN10MB. */
  linktype?: number;
}

/* ---- constants of the link and network layers (DLT_EN10MB) ---- */

const OFF_TYPE = 12;
const OFF_NL = 14;
const ETHERTYPE_IP = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const ETHERTYPE_REVARP = 0x8035;
const ETHERTYPE_IPV6 = 0x86dd;
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_SCTP = 132;
const IPPROTO_FRAGMENT = 44;
const IP6_HDRLEN = 40;
const DEFAULT_SNAPLEN = 262144;

/* Named values usable in arithmetic (libpcap's). */
const NAMED: ReadonlyMap<string, number> = new Map([
  ['tcpflags', 13], ['tcp-fin', 0x01], ['tcp-syn', 0x02], ['tcp-rst', 0x04], ['tcp-push', 0x08],
  ['tcp-ack', 0x10], ['tcp-urg', 0x20], ['tcp-ece', 0x40], ['tcp-cwr', 0x80],
  ['icmptype', 0], ['icmpcode', 1], ['icmp-echoreply', 0], ['icmp-unreach', 3], ['icmp-sourcequench', 4],
  ['icmp-redirect', 5], ['icmp-echo', 8], ['icmp-routeradvert', 9], ['icmp-routersolicit', 10],
  ['icmp-timxceed', 11], ['icmp-paramprob', 12], ['icmp-tstamp', 13], ['icmp-tstampreply', 14],
  ['icmp-ireq', 15], ['icmp-ireqreply', 16], ['icmp-maskreq', 17], ['icmp-maskreply', 18],
]);

const PROTOS: ReadonlySet<string> = new Set(['ether', 'ip', 'ip6', 'arp', 'rarp', 'tcp', 'udp', 'icmp', 'sctp']);
const TYPES: ReadonlySet<string> = new Set(['host', 'net', 'port', 'portrange']);
const KEYWORDS: ReadonlySet<string> = new Set([
  ...PROTOS, ...TYPES, 'src', 'dst', 'and', 'or', 'not', 'len', 'less', 'greater', 'proto', 'mask',
]);

/* ---- the boolean tree ---- */

/** Straight-line statements, then `jcode k` (or X); true goes to jt. */
interface Test {
  t: 'test';
  stmts: BpfInsn[];
  jcode: number;
  k: number;
}
type Bool = Test | { t: 'and' | 'or'; a: Bool; b: Bool } | { t: 'not'; a: Bool } | { t: 'true' };
/* Always true, with no load: libpcap drops a masked compare whose mask is 0, load and all. */
const TRUE: Bool = { t: 'true' };

function and(...xs: Bool[]): Bool {
  return xs.reduce((a, b) => ({ t: 'and', a, b }));
}
function or(...xs: Bool[]): Bool {
  return xs.reduce((a, b) => ({ t: 'or', a, b }));
}
function not(a: Bool): Bool {
  return { t: 'not', a };
}
function stmt(code: number, k = 0): BpfInsn {
  return { code, jt: 0, jf: 0, k: k >>> 0 };
}
function test(stmts: BpfInsn[], jcode: number, k: number): Test {
  return { t: 'test', stmts, jcode, k: k >>> 0 };
}
const SIZE_CODE: Record<number, number> = { 1: BPF_B, 2: BPF_H, 4: BPF_W };
/** [off] (masked) == v */
function cmp(off: number, size: number, v: number, mask = 0xffffffff): Bool {
  if (mask >>> 0 === 0) return TRUE;
  const s = [stmt(BPF_LD | SIZE_CODE[size]! | BPF_ABS, off)];
  if (mask >>> 0 !== 0xffffffff) s.push(stmt(BPF_ALU | BPF_AND | BPF_K, mask));
  return test(s, BPF_JMP | BPF_JEQ | BPF_K, (v & mask) >>> 0);
}
function ethertype(t: number): Test {
  return test([stmt(BPF_LD | BPF_H | BPF_ABS, OFF_TYPE)], BPF_JMP | BPF_JEQ | BPF_K, t);
}
/** Not a later fragment: the offset bits of ip_off are zero. */
function ipFirstFrag(): Bool {
  return not(test([stmt(BPF_LD | BPF_H | BPF_ABS, OFF_NL + 6)], BPF_JMP | BPF_JSET | BPF_K, 0x1fff));
}
function ipProto(p: number): Bool {
  return and(ethertype(ETHERTYPE_IP), cmp(OFF_NL + 9, 1, p));
}
/* IPv6 next header p, directly or after one fragment header (libpcap's gen_proto for ip6). */
function ip6Proto(p: number): Bool {
  return and(
    ethertype(ETHERTYPE_IPV6),
    or(cmp(OFF_NL + 6, 1, p), and(cmp(OFF_NL + 6, 1, IPPROTO_FRAGMENT), cmp(OFF_NL + IP6_HDRLEN, 1, p))),
  );
}

/* ---- lexer ---- */

type TokKind = 'word' | 'op' | 'eof';
interface Tok {
  kind: TokKind;
  text: string;
  pos: number;
}

const OPS = ['&&', '||', '<<', '>>', '<=', '>=', '==', '!=', '(', ')', '[', ']', ':', '!', '&', '|', '^', '+', '-', '*', '/', '%', '<', '>', '='];

function lex(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    /* A MAC address is the only word with colons: `ether[12:2]` is a load. */
    const w = /^[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2}){5}(?![-A-Za-z0-9_.:])/.exec(s.slice(i)) ??
      /^[A-Za-z0-9_](?:[-A-Za-z0-9_.]*[A-Za-z0-9_])?/.exec(s.slice(i));
    if (w) {
      out.push({ kind: 'word', text: w[0], pos: i });
      i += w[0].length;
      continue;
    }
    const op = OPS.find((o) => s.startsWith(o, i));
    if (op === undefined) throw new BpfCompileError(`syntax error: unexpected character '${c}'`, i);
    out.push({ kind: 'op', text: op, pos: i });
    i += op.length;
  }
  out.push({ kind: 'eof', text: '', pos: s.length });
  return out;
}

/* Numbers as libpcap reads them: 0x hex, leading-0 octal, decimal. */
function parseNum(t: string): number | null {
  let v: number;
  if (/^0x[0-9a-f]+$/i.test(t)) v = parseInt(t.slice(2), 16);
  else if (/^0[0-7]*$/.test(t)) v = t.length === 1 ? 0 : parseInt(t.slice(1), 8);
  else if (/^[1-9][0-9]*$/.test(t)) v = parseInt(t, 10);
  else return null;
  return v <= 0xffffffff ? v : null;
}

/** Dotted quad (1 to 4 parts): value right-aligned and its width in bits. */
function parseDotted(t: string): { v: number; bits: number } | null {
  if (!/^\d+(\.\d+){1,3}$/.test(t)) return null;
  let v = 0;
  const parts = t.split('.');
  for (const p of parts) {
    const n = parseInt(p, 10);
    if (n > 255) return null;
    v = v * 256 + n;
  }
  return { v, bits: parts.length * 8 };
}

function parseMac(t: string): number[] | null {
  if (!/^[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}$/i.test(t)) return null;
  return t.split(':').map((x) => parseInt(x, 16));
}

/* ---- arithmetic ---- */

/** An arithmetic value: checks that must hold first, then statements leaving it in A. */
interface Arth {
  checks: Bool[];
  stmts: BpfInsn[];
  /** Set when the value is a literal: then it can be an instruction's K operand. */
  konst: number | null;
}

const ALU_OF: Record<string, number> = {
  '+': BPF_ADD, '-': BPF_SUB, '*': BPF_MUL, '/': BPF_DIV, '%': BPF_MOD,
  '&': BPF_AND, '|': BPF_OR, '^': BPF_XOR, '<<': BPF_LSH, '>>': BPF_RSH,
};
/* Binding power, C's order: | < ^ < & < shifts < + - < * / % (libpcap's). */
const BINDING: Record<string, number> = {
  '|': 1, '^': 2, '&': 3, '<<': 4, '>>': 4, '+': 5, '-': 5, '*': 6, '/': 6, '%': 6,
};
const RELOPS: ReadonlySet<string> = new Set(['=', '==', '!=', '<', '<=', '>', '>=']);

/*
 * A scratch word to hold a value while `later` runs: one above any word
 * `later` itself uses (words used before the store are free again).
 */
function scratch(later: readonly BpfInsn[], at: Tok): number {
  let m = 0;
  for (const s of later) {
    const cls = s.code & 0x07;
    if (cls === BPF_ST || cls === 0x03 || ((cls === BPF_LD || cls === BPF_LDX) && (s.code & 0xe0) === BPF_MEM)) m = Math.max(m, s.k + 1);
  }
  if (m >= BPF_MEMWORDS) throw new BpfCompileError('expression too complex (out of scratch memory)', at.pos);
  return m;
}

/* ---- parser ---- */

/** Qualifiers of a primitive: `tcp src port` is {proto tcp, dir src, type port}. */
interface Qual {
  proto: string | null;
  dir: 'src' | 'dst' | 'or' | 'and' | null;
  type: string | null;
}

class Parser {
  private i = 0;
  /* The last primitive's qualifiers: `host a or b` means `host a or host b`. */
  private last: Qual = { proto: null, dir: null, type: null };

  constructor(private readonly toks: Tok[]) {}

  private peek(n = 0): Tok {
    return this.toks[Math.min(this.i + n, this.toks.length - 1)]!;
  }
  private next(): Tok {
    const t = this.peek();
    if (t.kind !== 'eof') this.i++;
    return t;
  }
  private is(text: string, n = 0): boolean {
    const t = this.peek(n);
    return t.kind !== 'eof' && t.text === text;
  }
  private fail(msg: string, t: Tok = this.peek()): never {
    throw new BpfCompileError(`syntax error: ${msg}, found ${t.kind === 'eof' ? 'end of expression' : `'${t.text}'`}`, t.pos);
  }
  private expect(text: string): Tok {
    if (!this.is(text)) this.fail(`expected '${text}'`);
    return this.next();
  }

  parse(): Bool | null {
    if (this.peek().kind === 'eof') return null;
    const b = this.expr();
    if (this.peek().kind !== 'eof') this.fail("expected 'and', 'or' or the end");
    return b;
  }

  private isAnd(): boolean {
    return this.is('and') || this.is('&&');
  }
  private isOr(): boolean {
    return this.is('or') || this.is('||');
  }

  /* expr := term (('and'|'or') term)*, equal precedence, grouping left. */
  private expr(): Bool {
    let b = this.term();
    for (;;) {
      const isAnd = this.isAnd();
      if (!isAnd && !this.isOr()) return b;
      this.next();
      const r = this.continuation() ?? this.term();
      b = isAnd ? and(b, r) : or(b, r);
    }
  }

  /*
   * After and/or, a bare value (optionally negated) takes the previous
   * primitive's qualifiers: `port 80 or 443`, `host a and not b`.
   */
  private continuation(): Bool | null {
    let n = 0;
    while (this.is('not', n) || this.is('!', n)) n++;
    const t = this.peek(n);
    if (t.kind !== 'word' || KEYWORDS.has(t.text) || NAMED.has(t.text)) return null;
    const after = this.peek(n + 1);
    if (after.kind === 'op' && (RELOPS.has(after.text) || after.text in BINDING || after.text === '[') && after.text !== '/') {
      return null;
    }
    if (this.last.type === null && this.last.proto === null && this.last.dir === null) return null;
    const nots = n;
    this.i += n;
    let b = this.id(this.last);
    for (let j = 0; j < nots; j++) b = not(b);
    return b;
  }

  private term(): Bool {
    if (this.is('not') || this.is('!')) {
      this.next();
      return not(this.term());
    }
    /* A relation, or failing that a primitive or a parenthesised expression. */
    const start = this.i;
    /*
     * Only `(` and a bare number are ambiguous (`(tcp)` vs `(len) > 1`,
     * `10` the host vs `10 = len`); anything else that starts arithmetic
     * is a relation, and its error is the one to report.
     */
    const t0 = this.peek();
    const ambiguous = t0.text === '(' || (t0.kind === 'word' && parseNum(t0.text) !== null);
    if (this.startsArith() && !ambiguous) return this.relation();
    if (this.startsArith()) {
      let relErr: BpfCompileError | null = null;
      try {
        return this.relation();
      } catch (e) {
        if (!(e instanceof BpfCompileError)) throw e;
        relErr = e;
      }
      this.i = start;
      try {
        return this.nonRelation();
      } catch (e) {
        if (!(e instanceof BpfCompileError)) throw e;
        /* Report whichever reading got further into the text. */
        throw e.pos >= relErr.pos ? e : relErr;
      }
    }
    return this.nonRelation();
  }

  private startsArith(): boolean {
    const t = this.peek();
    if (t.kind === 'op') return t.text === '(' || t.text === '-';
    if (t.kind !== 'word') return false;
    if (t.text === 'len' || NAMED.has(t.text)) return true;
    if (PROTOS.has(t.text) && this.is('[', 1)) return true;
    return parseNum(t.text) !== null;
  }

  private nonRelation(): Bool {
    if (this.is('(')) {
      this.next();
      const b = this.expr();
      this.expect(')');
      return b;
    }
    const t = this.peek();
    if (t.text === 'less' || t.text === 'greater') {
      this.next();
      const nt = this.next();
      const n = parseNum(nt.text);
      if (nt.kind !== 'word' || n === null) this.fail('expected a number', nt);
      /* less N: len <= N; greater N: len >= N. */
      const len = [stmt(BPF_LD | BPF_W | BPF_LEN)];
      return t.text === 'less' ? not(test(len, BPF_JMP | BPF_JGT | BPF_K, n)) : test(len, BPF_JMP | BPF_JGE | BPF_K, n);
    }
    return this.primitive();
  }

  /* [proto] [dir] [type] id, or a protocol alone, or `proto N`. */
  private primitive(): Bool {
    const q: Qual = { proto: null, dir: null, type: null };
    const t0 = this.peek();
    if (t0.kind === 'word' && PROTOS.has(t0.text)) q.proto = this.next().text;
    if (this.is('src') || this.is('dst')) {
      q.dir = this.next().text as 'src' | 'dst';
      /* `src or dst`, `src and dst`: only when the other direction follows. */
      if ((this.is('or') || this.is('and')) && (this.is('src', 1) || this.is('dst', 1))) {
        q.dir = this.next().text as 'or' | 'and';
        this.next();
      }
    }
    const t1 = this.peek();
    if (t1.kind === 'word' && TYPES.has(t1.text)) q.type = this.next().text;
    if (q.proto !== null && q.dir === null && q.type === null) {
      if (this.is('proto')) {
        this.next();
        return this.protoPrim(q.proto);
      }
      const nt = this.peek();
      const idLike = nt.kind === 'word' && !KEYWORDS.has(nt.text);
      if (!idLike) {
        this.last = q;
        return this.protoAlone(q.proto, t0);
      }
    }
    if (q.proto === null && q.dir === null && q.type === null && this.is('proto')) {
      this.next();
      return this.protoPrim(null);
    }
    this.last = q;
    return this.id(q);
  }

  private protoAlone(p: string, at: Tok): Bool {
    switch (p) {
      case 'ip':
        return ethertype(ETHERTYPE_IP);
      case 'ip6':
        return ethertype(ETHERTYPE_IPV6);
      case 'arp':
        return ethertype(ETHERTYPE_ARP);
      case 'rarp':
        return ethertype(ETHERTYPE_REVARP);
      case 'tcp':
        return or(ipProto(IPPROTO_TCP), ip6Proto(IPPROTO_TCP));
      case 'udp':
        return or(ipProto(IPPROTO_UDP), ip6Proto(IPPROTO_UDP));
      case 'sctp':
        return or(ipProto(IPPROTO_SCTP), ip6Proto(IPPROTO_SCTP));
      case 'icmp':
        return ipProto(IPPROTO_ICMP);
      default:
        return this.fail(`'${p}' needs a qualifier or an address`, at);
    }
  }

  /* ether proto N, ip proto N, ip6 proto N, proto N. */
  private protoPrim(p: string | null): Bool {
    const t = this.next();
    const n = parseNum(t.text);
    if (t.kind !== 'word' || n === null) this.fail('expected a protocol number', t);
    switch (p) {
      case 'ether':
        if (n <= 1500) throw new BpfCompileError('ether proto below 1501 (802.3 length) is not supported', t.pos);
        return ethertype(n);
      case 'ip':
        return ipProto(n);
      case 'ip6':
        return ip6Proto(n);
      case null:
        return or(ipProto(n), ip6Proto(n));
      default:
        return this.fail(`'${p} proto' is not supported`, t);
    }
  }

  /* The value after the qualifiers. */
  private id(q: Qual): Bool {
    const t = this.next();
    if (t.kind !== 'word' || KEYWORDS.has(t.text)) this.fail('expected an address, a number or a port', t);
    const mac = parseMac(t.text);
    if (mac !== null) {
      if (q.proto !== null && q.proto !== 'ether') throw new BpfCompileError(`a MAC address needs 'ether', not '${q.proto}'`, t.pos);
      if (q.type !== null && q.type !== 'host') throw new BpfCompileError(`'${q.type}' cannot take a MAC address`, t.pos);
      return this.etherHost(mac, q.dir);
    }
    if (q.proto === 'ether') throw new BpfCompileError(`'ether' needs a MAC address`, t.pos);
    const type = q.type ?? 'host';
    if (type === 'port' || type === 'portrange') return this.port(q, type, t);
    const num = parseNum(t.text);
    const dotted = parseDotted(t.text);
    if (num === null && dotted === null) {
      throw new BpfCompileError(`unknown host '${t.text}' (names are not resolved: use an address)`, t.pos);
    }
    /* libpcap's gen_ncode: a number is 32 bits, a dotted address is as wide as it is written. */
    let v = num !== null ? num : dotted!.v;
    const bits = num !== null ? 32 : dotted!.bits;
    let mask = 0xffffffff;
    if (type === 'host') {
      v = bits === 32 ? v : (v * 2 ** (32 - bits)) >>> 0;
      mask = bits === 32 ? mask : (mask << (32 - bits)) >>> 0;
      return this.host(q, v, mask);
    }
    /* net */
    if (this.is('/')) {
      this.next();
      const lt = this.next();
      const len = parseNum(lt.text);
      if (lt.kind !== 'word' || len === null || len > 32) throw new BpfCompileError('mask length must be 0..32', lt.pos);
      v = bits === 32 ? v : (v * 2 ** (32 - bits)) >>> 0;
      mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    } else if (this.is('mask')) {
      this.next();
      const mt = this.next();
      const md = parseDotted(mt.text);
      if (mt.kind !== 'word' || md === null) throw new BpfCompileError('expected a dotted mask', mt.pos);
      v = bits === 32 ? v : (v * 2 ** (32 - bits)) >>> 0;
      mask = md.bits === 32 ? md.v : (md.v * 2 ** (32 - md.bits)) >>> 0;
    } else {
      /* A short net number is promoted a byte at a time until its top byte is set. */
      while (v !== 0 && (v & 0xff000000) === 0) {
        v = (v << 8) >>> 0;
        mask = (mask << 8) >>> 0;
      }
    }
    if ((v & ~mask) >>> 0 !== 0) throw new BpfCompileError(`non-network bits set in '${t.text}'`, t.pos);
    return this.host(q, v, mask);
  }

  private hostop(srcoff: number, dstoff: number, v: number, mask: number, dir: Qual['dir']): Bool {
    const src = cmp(srcoff, 4, v, mask);
    const dst = cmp(dstoff, 4, v, mask);
    if (dir === 'src') return src;
    if (dir === 'dst') return dst;
    return dir === 'and' ? and(src, dst) : or(src, dst);
  }

  private host(q: Qual, v: number, mask: number): Bool {
    const ip = (): Bool => and(ethertype(ETHERTYPE_IP), this.hostop(OFF_NL + 12, OFF_NL + 16, v, mask, q.dir));
    const arp = (t: number): Bool => and(ethertype(t), this.hostop(OFF_NL + 14, OFF_NL + 24, v, mask, q.dir));
    switch (q.proto) {
      case null:
        return or(ip(), arp(ETHERTYPE_ARP), arp(ETHERTYPE_REVARP));
      case 'ip':
        return ip();
      case 'arp':
        return arp(ETHERTYPE_ARP);
      case 'rarp':
        return arp(ETHERTYPE_REVARP);
      default:
        throw new BpfCompileError(`'${q.proto}' modifier applied to ${q.type ?? 'host'}`, this.peek(-1).pos);
    }
  }

  /* Ethernet address: the last four bytes, then the first two (libpcap's order). */
  private etherHost(mac: number[], dir: Qual['dir']): Bool {
    const at = (off: number): Bool =>
      and(cmp(off + 2, 4, ((mac[2]! << 24) | (mac[3]! << 16) | (mac[4]! << 8) | mac[5]!) >>> 0), cmp(off, 2, (mac[0]! << 8) | mac[1]!));
    const src = at(6);
    const dst = at(0);
    if (dir === 'src') return src;
    if (dir === 'dst') return dst;
    return dir === 'and' ? and(src, dst) : or(src, dst);
  }

  private port(q: Qual, type: string, t: Tok): Bool {
    let lo: number;
    let hi: number;
    if (type === 'port') {
      const n = parseNum(t.text);
      if (n === null) throw new BpfCompileError(`unknown port '${t.text}' (service names are not resolved)`, t.pos);
      if (n > 65535) throw new BpfCompileError(`illegal port number ${n} > 65535`, t.pos);
      lo = hi = n;
    } else {
      const m = /^(\d+)-(\d+)$/.exec(t.text);
      if (m === null) throw new BpfCompileError(`expected a port range like 1-1023`, t.pos);
      lo = parseInt(m[1]!, 10);
      hi = parseInt(m[2]!, 10);
      if (lo > 65535 || hi > 65535) throw new BpfCompileError('illegal port number > 65535', t.pos);
      if (lo > hi) [lo, hi] = [hi, lo];
    }
    let protos: number[];
    switch (q.proto) {
      case null:
        protos = [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP];
        break;
      case 'tcp':
        protos = [IPPROTO_TCP];
        break;
      case 'udp':
        protos = [IPPROTO_UDP];
        break;
      case 'sctp':
        protos = [IPPROTO_SCTP];
        break;
      default:
        throw new BpfCompileError(`'${q.proto}' modifier applied to ${type}`, t.pos);
    }
    /* One port field: == port, or lo <= field <= hi (each test reloads the field). */
    const field = (load: () => BpfInsn[]): Bool =>
      lo === hi ? test(load(), BPF_JMP | BPF_JEQ | BPF_K, lo)
        : and(test(load(), BPF_JMP | BPF_JGE | BPF_K, lo), not(test(load(), BPF_JMP | BPF_JGT | BPF_K, hi)));
    const dirs = (src: Bool, dst: Bool): Bool =>
      q.dir === 'src' ? src : q.dir === 'dst' ? dst : q.dir === 'and' ? and(src, dst) : or(src, dst);
    /* IPv4: the transport header is at 14 + 4 * ip_hl. */
    const v4 = (off: number) => (): BpfInsn[] => [stmt(BPF_LDX | BPF_B | BPF_MSH, OFF_NL), stmt(BPF_LD | BPF_H | BPF_IND, OFF_NL + off)];
    const v6 = (off: number) => (): BpfInsn[] => [stmt(BPF_LD | BPF_H | BPF_ABS, OFF_NL + IP6_HDRLEN + off)];
    const ip4 = and(
      ethertype(ETHERTYPE_IP),
      or(...protos.map((p) => and(cmp(OFF_NL + 9, 1, p), ipFirstFrag(), dirs(field(v4(0)), field(v4(2)))))),
    );
    const ip6 = and(
      ethertype(ETHERTYPE_IPV6),
      or(...protos.map((p) => and(cmp(OFF_NL + 6, 1, p), dirs(field(v6(0)), field(v6(2)))))),
    );
    return or(ip4, ip6);
  }

  /* ---- relations and arithmetic ---- */

  private relation(): Bool {
    const a = this.arith(0);
    const op = this.peek();
    if (op.kind !== 'op' || !RELOPS.has(op.text)) this.fail('expected a comparison (=, !=, <, <=, >, >=)');
    this.next();
    const b = this.arith(0);
    const jop = op.text === '=' || op.text === '==' || op.text === '!=' ? BPF_JEQ : op.text === '>' || op.text === '<=' ? BPF_JGT : BPF_JGE;
    const negate = op.text === '!=' || op.text === '<' || op.text === '<=';
    let cond: Test;
    if (b.konst !== null) {
      cond = test([...a.stmts], BPF_JMP | jop | BPF_K, b.konst);
    } else {
      const m = scratch(b.stmts, op);
      cond = test([...a.stmts, stmt(BPF_ST, m), ...b.stmts, stmt(BPF_MISC | BPF_TAX), stmt(BPF_LD | BPF_MEM, m)], BPF_JMP | jop | BPF_X, 0);
    }
    const c: Bool = negate ? not(cond) : cond;
    const checks = [...a.checks, ...b.checks];
    return checks.length === 0 ? c : and(...checks, c);
  }

  /* Precedence climbing over libpcap's binary operators. */
  private arith(minBp: number): Arth {
    let a = this.arithUnary();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || !(t.text in BINDING)) return a;
      const bp = BINDING[t.text]!;
      if (bp <= minBp) return a;
      this.next();
      const b = this.arith(bp);
      a = this.binop(t, a, b);
    }
  }

  private binop(t: Tok, a: Arth, b: Arth): Arth {
    const alu = ALU_OF[t.text]!;
    /*
     * libpcap's gen_arth keeps only the left operand's protocol checks:
     * `len + tcp[0] = 0` reads tcp[0] from any frame.  Kept, so that both
     * compilers accept the same packets.
     */
    const checks = a.checks;
    if (b.konst !== null) {
      if ((alu === BPF_DIV || alu === BPF_MOD) && b.konst === 0) throw new BpfCompileError('division by zero', t.pos);
      return { checks, stmts: [...a.stmts, stmt(BPF_ALU | alu | BPF_K, b.konst)], konst: null };
    }
    const m = scratch(b.stmts, t);
    const stmts = [...a.stmts, stmt(BPF_ST, m), ...b.stmts, stmt(BPF_MISC | BPF_TAX), stmt(BPF_LD | BPF_MEM, m), stmt(BPF_ALU | alu | BPF_X)];
    return { checks, stmts, konst: null };
  }

  private arithUnary(): Arth {
    if (this.is('-')) {
      this.next();
      const a = this.arithUnary();
      return { checks: a.checks, stmts: [...a.stmts, stmt(BPF_ALU | BPF_NEG)], konst: null };
    }
    return this.arithPrimary();
  }

  private arithPrimary(): Arth {
    const t = this.next();
    if (t.kind === 'op' && t.text === '(') {
      const a = this.arith(0);
      this.expect(')');
      return a;
    }
    if (t.kind !== 'word') this.fail('expected a number, len or a packet load', t);
    if (t.text === 'len') return { checks: [], stmts: [stmt(BPF_LD | BPF_W | BPF_LEN)], konst: null };
    const named = NAMED.get(t.text);
    const n = named ?? parseNum(t.text);
    if (n !== null) return { checks: [], stmts: [stmt(BPF_LD | BPF_IMM, n)], konst: n };
    if (PROTOS.has(t.text) && this.is('[')) return this.load(t);
    return this.fail('expected a number, len or a packet load', t);
  }

  /* proto[index] or proto[index : size] */
  private load(p: Tok): Arth {
    this.expect('[');
    const idx = this.arith(0);
    let size = 1;
    if (this.is(':')) {
      this.next();
      const st = this.next();
      const s = parseNum(st.text);
      if (s !== 1 && s !== 2 && s !== 4) throw new BpfCompileError('data size must be 1, 2 or 4', st.pos);
      size = s;
    }
    this.expect(']');
    const sz = SIZE_CODE[size]!;
    const abs = (base: number): BpfInsn[] =>
      idx.konst !== null
        ? [stmt(BPF_LD | sz | BPF_ABS, base + idx.konst)]
        : [...idx.stmts, stmt(BPF_MISC | BPF_TAX), stmt(BPF_LD | sz | BPF_IND, base)];
    switch (p.text) {
      case 'ether':
        return { checks: idx.checks, stmts: abs(0), konst: null };
      case 'ip':
      case 'ip6':
      case 'arp':
      case 'rarp': {
        const et = { ip: ETHERTYPE_IP, ip6: ETHERTYPE_IPV6, arp: ETHERTYPE_ARP, rarp: ETHERTYPE_REVARP }[p.text]!;
        return { checks: [ethertype(et), ...idx.checks], stmts: abs(OFF_NL), konst: null };
      }
      case 'tcp':
      case 'udp':
      case 'icmp':
      case 'sctp': {
        const proto = { tcp: IPPROTO_TCP, udp: IPPROTO_UDP, icmp: IPPROTO_ICMP, sctp: IPPROTO_SCTP }[p.text]!;
        /* IPv4 only, first fragments only; the index is from the transport header. */
        const checks = [ethertype(ETHERTYPE_IP), ...idx.checks, cmp(OFF_NL + 9, 1, proto), ipFirstFrag()];
        let stmts: BpfInsn[];
        if (idx.konst !== null) {
          stmts = [stmt(BPF_LDX | BPF_B | BPF_MSH, OFF_NL), stmt(BPF_LD | sz | BPF_IND, OFF_NL + idx.konst)];
        } else {
          const m = scratch([], p);
          stmts = [
            ...idx.stmts, stmt(BPF_ST, m), stmt(BPF_LDX | BPF_B | BPF_MSH, OFF_NL), stmt(BPF_LD | BPF_MEM, m),
            stmt(BPF_ALU | BPF_ADD | BPF_X), stmt(BPF_MISC | BPF_TAX), stmt(BPF_LD | sz | BPF_IND, OFF_NL),
          ];
        }
        return { checks, stmts, konst: null };
      }
      default:
        return this.fail(`'${p.text}' cannot be indexed`, p);
    }
  }
}

/* ---- code generation ---- */

/* A jump whose targets are labels until layout. */
interface Item {
  ins: BpfInsn;
  /** For conditional jumps and ja: target labels. */
  tl?: number;
  fl?: number;
  /** Set when a target is out of 8-bit reach: emitted through two ja trampolines. */
  far?: boolean;
}

function generate(root: Bool | null, snaplen: number): BpfInsn[] {
  if (root === null) return [{ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: snaplen >>> 0 }];
  const items: Item[] = [];
  /* labelAt[l] = index in items where label l is placed. */
  const labelAt: number[] = [];
  const newLabel = (): number => labelAt.push(-1) - 1;
  const place = (l: number): void => {
    labelAt[l] = items.length;
  };
  const gen = (b: Bool, T: number, F: number): void => {
    switch (b.t) {
      case 'test':
        for (const s of b.stmts) items.push({ ins: s });
        items.push({ ins: { code: b.jcode, jt: 0, jf: 0, k: b.k }, tl: T, fl: F });
        return;
      case 'not':
        gen(b.a, F, T);
        return;
      case 'true':
        items.push({ ins: { code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: 0 }, tl: T, fl: T });
        return;
      case 'and': {
        const L = newLabel();
        gen(b.a, L, F);
        place(L);
        gen(b.b, T, F);
        return;
      }
      case 'or': {
        const L = newLabel();
        gen(b.a, T, L);
        place(L);
        gen(b.b, T, F);
      }
    }
  };
  const ACCEPT = newLabel();
  const REJECT = newLabel();
  gen(root, ACCEPT, REJECT);
  place(ACCEPT);
  items.push({ ins: { code: BPF_RET | BPF_K, jt: 0, jf: 0, k: snaplen >>> 0 } });
  place(REJECT);
  items.push({ ins: { code: BPF_RET | BPF_K, jt: 0, jf: 0, k: 0 } });

  /*
   * Layout: a far jump takes three instructions (jcond 0,1; ja T; ja F),
   * which moves everything after it, so repeat until nothing new is far.
   * Marking only ever grows programs, so this ends.
   */
  const pos = new Array<number>(items.length + 1);
  for (;;) {
    let p = 0;
    for (let i = 0; i < items.length; i++) {
      pos[i] = p;
      p += items[i]!.far ? 3 : 1;
    }
    pos[items.length] = p;
    let changed = false;
    for (let i = 0; i < items.length; i++) {
      const it = items[i]!;
      /* ja carries its offset in 32-bit k: never far. */
      if (it.tl === undefined || it.far || it.ins.code === (BPF_JMP | BPF_JA)) continue;
      const jt = pos[labelAt[it.tl]!]! - pos[i]! - 1;
      const jf = pos[labelAt[it.fl!]!]! - pos[i]! - 1;
      if (jt > 255 || jf > 255) {
        it.far = true;
        changed = true;
      }
    }
    if (!changed) break;
  }
  const out: BpfInsn[] = [];
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    if (it.tl === undefined) {
      out.push({ ...it.ins });
      continue;
    }
    const t = pos[labelAt[it.tl]!]!;
    const f = pos[labelAt[it.fl!]!]!;
    if (it.ins.code === (BPF_JMP | BPF_JA)) {
      out.push({ code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: t - out.length - 1 });
    } else if (it.far) {
      const here = out.length;
      out.push({ code: it.ins.code, jt: 0, jf: 1, k: it.ins.k });
      out.push({ code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: t - (here + 2) });
      out.push({ code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: f - (here + 3) });
    } else {
      out.push({ code: it.ins.code, jt: t - out.length - 1, jf: f - out.length - 1, k: it.ins.k });
    }
  }
  return out;
}

/**
 * Compile a tcpdump filter expression for DLT_EN10MB.  An empty
 * expression accepts everything.  Throws BpfCompileError (with .pos) on a
 * syntax error, an unsupported construct, or a program over BPF_MAXINSNS.
 */
export function bpf_compile(expr: string, opts: BpfCompileOptions = {}): BpfInsn[] {
  const linktype = opts.linktype ?? DLT_EN10MB;
  if (linktype !== DLT_EN10MB) throw new BpfCompileError(`link type ${linktype} is not supported (only DLT_EN10MB)`, 0);
  const root = new Parser(lex(expr)).parse();
  const prog = generate(root, opts.snaplen ?? DEFAULT_SNAPLEN);
  if (prog.length > BPF_MAXINSNS) throw new BpfCompileError(`expression too complex: ${prog.length} instructions > ${BPF_MAXINSNS}`, 0);
  return prog;
}

/* Opcode names for bpf_dump (tcpdump -d style), for people reading programs. */
export function bpf_image(p: BpfInsn, i: number): string {
  const k = p.k >>> 0;
  const hex = `#0x${k.toString(16)}`;
  const size = ['', 'h', 'b'][(p.code & 0x18) >> 3] ?? '?';
  const j = (name: string, rhs: string): string => `${name.padEnd(8)} ${rhs.padEnd(16)} jt ${i + 1 + p.jt}\tjf ${i + 1 + p.jf}`;
  const ops: Record<number, string> = {
    [BPF_ADD]: 'add', [BPF_SUB]: 'sub', [BPF_MUL]: 'mul', [BPF_DIV]: 'div', [BPF_MOD]: 'mod', [BPF_AND]: 'and',
    [BPF_OR]: 'or', [BPF_XOR]: 'xor', [BPF_LSH]: 'lsh', [BPF_RSH]: 'rsh',
  };
  const jops: Record<number, string> = { [BPF_JEQ]: 'jeq', [BPF_JGT]: 'jgt', [BPF_JGE]: 'jge', [BPF_JSET]: 'jset' };
  let s: string;
  switch (p.code & 0x07) {
    case BPF_LD:
      s = (p.code & 0xe0) === BPF_ABS ? `ld${size}`.padEnd(8) + ` [${k}]` : (p.code & 0xe0) === BPF_IND ? `ld${size}`.padEnd(8) + ` [x + ${k}]`
        : (p.code & 0xe0) === BPF_IMM ? `ld       #${k}` : (p.code & 0xe0) === BPF_LEN ? 'ld       #pktlen' : `ld       M[${k}]`;
      break;
    case BPF_LDX:
      s = (p.code & 0xe0) === BPF_MSH ? `ldxb     4*([${k}]&0xf)` : (p.code & 0xe0) === BPF_IMM ? `ldx      #${k}`
        : (p.code & 0xe0) === BPF_LEN ? 'ldx      #pktlen' : (p.code & 0xe0) === BPF_MEM ? `ldx      M[${k}]` : '?';
      break;
    case BPF_ST:
      s = `st       M[${k}]`;
      break;
    case 0x03:
      s = `stx      M[${k}]`;
      break;
    case BPF_ALU:
      s = (p.code & 0xf0) === BPF_NEG ? 'neg' : `${(ops[p.code & 0xf0] ?? '?').padEnd(8)} ${(p.code & BPF_X) ? 'x' : hex}`;
      break;
    case BPF_JMP:
      s = (p.code & 0xf0) === BPF_JA ? `ja       ${i + 1 + k}` : j(jops[p.code & 0xf0] ?? '?', (p.code & BPF_X) ? 'x' : hex);
      break;
    case BPF_RET:
      s = (p.code & 0x18) === 0x10 ? 'ret      a' : `ret      #${k}`;
      break;
    default:
      s = (p.code & 0xf8) === 0x80 ? 'txa' : 'tax';
  }
  return `(${String(i).padStart(3, '0')}) ${s}`;
}

/** The whole program, one instruction a line, as tcpdump -d prints it. */
export function bpf_dump(prog: readonly BpfInsn[]): string {
  return prog.map((p, i) => bpf_image(p, i)).join('\n');
}
