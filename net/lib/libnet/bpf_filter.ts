/*
 * The classic BPF machine (NetBSD's sys/net/bpf_filter.c): bpf_filter,
 * the interpreter, and bpf_validate, the check a program must pass before
 * the kernel runs it or the JIT compiles it.
 *
 * The machine has an accumulator A, an index register X, BPF_MEMWORDS
 * scratch words and read-only access to the packet.  Every value is an
 * unsigned 32-bit integer; here that is a JS number in [0, 2^32), kept so
 * with `>>> 0` after every operation that could leave the range.
 *
 * The packet is either a flat Uint8Array (buflen bytes of it valid) or an
 * mbuf chain, read in place: a load that straddles mbufs gathers its bytes
 * from each (m_xword / m_xhalf / m_xbyte) instead of flattening the chain,
 * as NetBSD does, so a tap on the receive path costs no copy.  A load past
 * the captured bytes ends the program with 0 (the packet is rejected), and
 * so does a division or modulus by X when X is 0: that is BSD's contract,
 * which the JIT and the filter compiler rely on.
 */

import {
  BPF_A, BPF_ABS, BPF_ADD, BPF_ALU, BPF_AND, BPF_B, BPF_CLASS, BPF_DIV, BPF_H, BPF_IMM, BPF_IND, BPF_JA,
  BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_LDX, BPF_LEN, BPF_LSH, BPF_MAXINSNS,
  BPF_MEM, BPF_MEMWORDS, BPF_MISC, BPF_MOD, BPF_MODE, BPF_MSH, BPF_MUL, BPF_NEG, BPF_OP, BPF_OR, BPF_RET,
  BPF_RSH, BPF_ST, BPF_STX, BPF_SUB, BPF_TAX, BPF_TXA, BPF_W, BPF_X, BPF_XOR, type BpfInsn,
} from '../../../include/bpf.ts';
import { Mbuf } from '../../../librump/rumpnet/uipc_mbuf.ts';

/* ---- reading an mbuf chain in place ---- */

/**
 * The bytes [k, k+n) of the chain as a big-endian number, n = 1, 2 or 4;
 * -1 when the chain ends first.  The common case (the bytes inside one
 * mbuf) is one DataView read; a straddling load gathers byte by byte over
 * as many mbufs as it takes (zero-length mbufs included).
 */
function m_xload(m0: Mbuf, k: number, n: number): number {
  let m: Mbuf | null = m0;
  while (m !== null && k >= m.m_len) {
    k -= m.m_len;
    m = m.m_next;
  }
  if (m === null) return -1;
  if (k + n <= m.m_len) {
    const p = m.m_data + k;
    return n === 4 ? m.m_view.getUint32(p) : n === 2 ? m.m_view.getUint16(p) : m.m_buf[p]!;
  }
  let v = 0;
  for (let i = 0; i < n; i++) {
    while (m !== null && k >= m.m_len) {
      k -= m.m_len;
      m = m.m_next;
    }
    if (m === null) return -1;
    v = v * 256 + m.m_buf[m.m_data + k]!;
    k++;
  }
  return v;
}

/** 32-bit load at offset k of the chain; -1 past its end. */
export function m_xword(m: Mbuf, k: number): number {
  return m_xload(m, k, 4);
}

/** 16-bit load at offset k of the chain; -1 past its end. */
export function m_xhalf(m: Mbuf, k: number): number {
  return m_xload(m, k, 2);
}

/** Byte at offset k of the chain; -1 past its end. */
export function m_xbyte(m: Mbuf, k: number): number {
  return m_xload(m, k, 1);
}

/* ---- the interpreter ---- */

/**
 * Run program pc over packet p.  wirelen is the packet's length on the
 * wire (what BPF_LEN loads); buflen how many bytes of it are present (in
 * p, or in the chain): loads beyond buflen reject the packet.  Returns the
 * number of bytes to capture, 0 to reject.  pc must have passed
 * bpf_validate; a null program accepts everything, as in BSD.
 */
export function bpf_filter(pc: readonly BpfInsn[] | null, p: Uint8Array | Mbuf, wirelen: number, buflen: number): number {
  if (pc === null) return 0xffffffff;
  if (p instanceof Mbuf) {
    /* A chain of one mbuf is a flat buffer: skip the chain walk per load. */
    if (p.m_next === null) return bpf_run(pc, p.m_buf, p.m_data, null, wirelen, Math.min(buflen, p.m_len));
    return bpf_run(pc, p.m_buf, 0, p, wirelen, buflen);
  }
  return bpf_run(pc, p, 0, null, wirelen, Math.min(buflen, p.length));
}

/*
 * The machine proper.  m === null: the packet is buf[base .. base+buflen);
 * otherwise it is the chain m and buf is unused.  One loop for both, so
 * the two cannot drift apart; the test of m per load is cheap next to the
 * switch dispatch.
 */
function bpf_run(pc: readonly BpfInsn[], buf: Uint8Array, base: number, m: Mbuf | null,
  wirelen: number, buflen: number): number {
  let A = 0;
  let X = 0;
  let k = 0;
  /*
   * Scratch memory, made on the first store: most filters never use it,
   * and they should not pay an allocation per packet.  Validated programs
   * never read a word before writing it, so a read finds it made.
   */
  let mem: Uint32Array | null = null;
  for (let i = 0; ; i++) {
    const ins = pc[i]!;
    switch (ins.code) {
      case BPF_RET | BPF_K:
        return ins.k >>> 0;
      case BPF_RET | BPF_A:
        return A;
      case BPF_LD | BPF_W | BPF_ABS:
      case BPF_LD | BPF_W | BPF_IND:
        k = (ins.code & 0xe0) === BPF_IND ? X + (ins.k >>> 0) : ins.k >>> 0;
        if (k + 4 > buflen) return 0;
        if (m === null) {
          k += base;
          A = ((buf[k]! << 24) | (buf[k + 1]! << 16) | (buf[k + 2]! << 8) | buf[k + 3]!) >>> 0;
        } else {
          A = m_xload(m, k, 4);
          if (A < 0) return 0;
        }
        continue;
      case BPF_LD | BPF_H | BPF_ABS:
      case BPF_LD | BPF_H | BPF_IND:
        k = (ins.code & 0xe0) === BPF_IND ? X + (ins.k >>> 0) : ins.k >>> 0;
        if (k + 2 > buflen) return 0;
        if (m === null) {
          k += base;
          A = (buf[k]! << 8) | buf[k + 1]!;
        } else {
          A = m_xload(m, k, 2);
          if (A < 0) return 0;
        }
        continue;
      case BPF_LD | BPF_B | BPF_ABS:
      case BPF_LD | BPF_B | BPF_IND:
        k = (ins.code & 0xe0) === BPF_IND ? X + (ins.k >>> 0) : ins.k >>> 0;
        if (k + 1 > buflen) return 0;
        if (m === null) {
          A = buf[base + k]!;
        } else {
          A = m_xload(m, k, 1);
          if (A < 0) return 0;
        }
        continue;
      case BPF_LDX | BPF_B | BPF_MSH:
        k = ins.k >>> 0;
        if (k + 1 > buflen) return 0;
        if (m === null) {
          X = (buf[base + k]! & 0xf) << 2;
        } else {
          const v = m_xload(m, k, 1);
          if (v < 0) return 0;
          X = (v & 0xf) << 2;
        }
        continue;
      case BPF_LD | BPF_W | BPF_LEN:
        A = wirelen >>> 0;
        continue;
      case BPF_LDX | BPF_W | BPF_LEN:
        X = wirelen >>> 0;
        continue;
      case BPF_LD | BPF_IMM:
        A = ins.k >>> 0;
        continue;
      case BPF_LDX | BPF_IMM:
        X = ins.k >>> 0;
        continue;
      case BPF_LD | BPF_MEM:
        A = mem === null ? 0 : mem[ins.k]!;
        continue;
      case BPF_LDX | BPF_MEM:
        X = mem === null ? 0 : mem[ins.k]!;
        continue;
      case BPF_ST:
        (mem ??= new Uint32Array(BPF_MEMWORDS))[ins.k] = A;
        continue;
      case BPF_STX:
        (mem ??= new Uint32Array(BPF_MEMWORDS))[ins.k] = X;
        continue;
      case BPF_JMP | BPF_JA:
        i += ins.k >>> 0;
        continue;
      case BPF_JMP | BPF_JGT | BPF_K:
        i += A > ins.k >>> 0 ? ins.jt : ins.jf;
        continue;
      case BPF_JMP | BPF_JGE | BPF_K:
        i += A >= ins.k >>> 0 ? ins.jt : ins.jf;
        continue;
      case BPF_JMP | BPF_JEQ | BPF_K:
        i += A === ins.k >>> 0 ? ins.jt : ins.jf;
        continue;
      case BPF_JMP | BPF_JSET | BPF_K:
        i += (A & ins.k) !== 0 ? ins.jt : ins.jf;
        continue;
      case BPF_JMP | BPF_JGT | BPF_X:
        i += A > X ? ins.jt : ins.jf;
        continue;
      case BPF_JMP | BPF_JGE | BPF_X:
        i += A >= X ? ins.jt : ins.jf;
        continue;
      case BPF_JMP | BPF_JEQ | BPF_X:
        i += A === X ? ins.jt : ins.jf;
        continue;
      case BPF_JMP | BPF_JSET | BPF_X:
        i += (A & X) !== 0 ? ins.jt : ins.jf;
        continue;
      case BPF_ALU | BPF_ADD | BPF_X:
        A = (A + X) >>> 0;
        continue;
      case BPF_ALU | BPF_SUB | BPF_X:
        A = (A - X) >>> 0;
        continue;
      case BPF_ALU | BPF_MUL | BPF_X:
        A = Math.imul(A, X) >>> 0;
        continue;
      case BPF_ALU | BPF_DIV | BPF_X:
        /* BSD: a runtime division by zero rejects the packet. */
        if (X === 0) return 0;
        A = (A / X) >>> 0;
        continue;
      case BPF_ALU | BPF_MOD | BPF_X:
        if (X === 0) return 0;
        A = A % X;
        continue;
      case BPF_ALU | BPF_AND | BPF_X:
        A = (A & X) >>> 0;
        continue;
      case BPF_ALU | BPF_OR | BPF_X:
        A = (A | X) >>> 0;
        continue;
      case BPF_ALU | BPF_XOR | BPF_X:
        A = (A ^ X) >>> 0;
        continue;
      /*
       * Shifts by 32 or more are undefined in C; JS takes the count mod 32,
       * as x86 hardware does, and the JIT does the same, so both agree.
       */
      case BPF_ALU | BPF_LSH | BPF_X:
        A = (A << X) >>> 0;
        continue;
      case BPF_ALU | BPF_RSH | BPF_X:
        A = A >>> X;
        continue;
      case BPF_ALU | BPF_ADD | BPF_K:
        A = (A + (ins.k >>> 0)) >>> 0;
        continue;
      case BPF_ALU | BPF_SUB | BPF_K:
        A = (A - (ins.k >>> 0)) >>> 0;
        continue;
      case BPF_ALU | BPF_MUL | BPF_K:
        A = Math.imul(A, ins.k) >>> 0;
        continue;
      case BPF_ALU | BPF_DIV | BPF_K:
        A = (A / (ins.k >>> 0)) >>> 0;
        continue;
      case BPF_ALU | BPF_MOD | BPF_K:
        A = A % (ins.k >>> 0);
        continue;
      case BPF_ALU | BPF_AND | BPF_K:
        A = (A & ins.k) >>> 0;
        continue;
      case BPF_ALU | BPF_OR | BPF_K:
        A = (A | ins.k) >>> 0;
        continue;
      case BPF_ALU | BPF_XOR | BPF_K:
        A = (A ^ ins.k) >>> 0;
        continue;
      case BPF_ALU | BPF_LSH | BPF_K:
        A = (A << ins.k) >>> 0;
        continue;
      case BPF_ALU | BPF_RSH | BPF_K:
        A = A >>> ins.k;
        continue;
      case BPF_ALU | BPF_NEG:
        A = -A >>> 0;
        continue;
      case BPF_MISC | BPF_TAX:
        X = A;
        continue;
      case BPF_MISC | BPF_TXA:
        A = X;
        continue;
      default:
        /* Unknown opcode: bpf_validate refuses these; the kernel rejects the packet. */
        return 0;
    }
  }
}

/* ---- validation ---- */

/* Every opcode the machine knows: 1 = legal.  A constant table. */
const BPF_LEGAL: Uint8Array = (() => {
  const t = new Uint8Array(256);
  const ops = [
    BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_H | BPF_ABS, BPF_LD | BPF_B | BPF_ABS,
    BPF_LD | BPF_W | BPF_IND, BPF_LD | BPF_H | BPF_IND, BPF_LD | BPF_B | BPF_IND,
    BPF_LD | BPF_W | BPF_LEN, BPF_LD | BPF_IMM, BPF_LD | BPF_MEM,
    BPF_LDX | BPF_W | BPF_IMM, BPF_LDX | BPF_W | BPF_MEM, BPF_LDX | BPF_W | BPF_LEN, BPF_LDX | BPF_B | BPF_MSH,
    BPF_ST, BPF_STX,
    BPF_JMP | BPF_JA,
    BPF_RET | BPF_K, BPF_RET | BPF_A,
    BPF_ALU | BPF_NEG,
    BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA,
  ];
  for (const op of [BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_MOD, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH]) {
    ops.push(BPF_ALU | op | BPF_K, BPF_ALU | op | BPF_X);
  }
  for (const op of [BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET]) ops.push(BPF_JMP | op | BPF_K, BPF_JMP | op | BPF_X);
  for (const op of ops) t[op] = 1;
  return t;
})();

/** Why bpf_validate_reason refused a program, or null. */
export function bpf_validate_reason(f: readonly BpfInsn[]): string | null {
  const len = f.length;
  if (len < 1 || len > BPF_MAXINSNS) return `program length ${len} not in 1..${BPF_MAXINSNS}`;
  /*
   * As NetBSD's bpf_validate: also refuse a program that may read a
   * scratch word no path has written.  invalid[i] collects, over every
   * path into instruction i, the words possibly unwritten there; jumps
   * only go forward, so one pass in order sees every predecessor first.
   */
  const invalid = new Uint32Array(len + 1);
  const reached = new Uint8Array(len + 1);
  invalid[0] = (1 << BPF_MEMWORDS) - 1;
  reached[0] = 1;
  for (let i = 0; i < len; i++) {
    const p = f[i]!;
    const code = p.code;
    const k = p.k >>> 0;
    if (!Number.isInteger(code) || code < 0 || code > 0xff || BPF_LEGAL[code] !== 1) {
      return `instruction ${i}: unknown opcode 0x${code.toString(16)}`;
    }
    if (!Number.isInteger(p.k) || p.k < -0x80000000 || p.k > 0xffffffff) return `instruction ${i}: k out of range`;
    let inv = invalid[i]!;
    const live = reached[i] === 1;
    const cls = BPF_CLASS(code);
    const from = i + 1;
    switch (cls) {
      case BPF_LD:
      case BPF_LDX:
        if (BPF_MODE(code) === BPF_MEM) {
          if (k >= BPF_MEMWORDS) return `instruction ${i}: scratch index ${k} >= ${BPF_MEMWORDS}`;
          if (live && (inv & (1 << k)) !== 0) return `instruction ${i}: reads M[${k}] before it is written`;
        }
        break;
      case BPF_ST:
      case BPF_STX:
        if (k >= BPF_MEMWORDS) return `instruction ${i}: scratch index ${k} >= ${BPF_MEMWORDS}`;
        inv &= ~(1 << k);
        break;
      case BPF_ALU:
        if ((BPF_OP(code) === BPF_DIV || BPF_OP(code) === BPF_MOD) && (code & BPF_X) === BPF_K && k === 0) {
          return `instruction ${i}: division by constant zero`;
        }
        break;
      case BPF_JMP:
        if (BPF_OP(code) === BPF_JA) {
          if (from + k >= len) return `instruction ${i}: jump out of range`;
          if (live) {
            reached[from + k] = 1;
            invalid[from + k]! |= inv;
          }
          continue;
        }
        if (!(p.jt >= 0 && p.jt <= 255 && p.jf >= 0 && p.jf <= 255 && Number.isInteger(p.jt) && Number.isInteger(p.jf))) {
          return `instruction ${i}: jump offsets must be 0..255`;
        }
        if (from + p.jt >= len || from + p.jf >= len) return `instruction ${i}: jump out of range`;
        if (live) {
          reached[from + p.jt] = 1;
          invalid[from + p.jt]! |= inv;
          reached[from + p.jf] = 1;
          invalid[from + p.jf]! |= inv;
        }
        continue;
      case BPF_RET:
        continue;
      default:
        break;
    }
    /* Falls through to the next instruction. */
    if (live) {
      reached[from] = 1;
      invalid[from]! |= inv;
    }
  }
  if (BPF_CLASS(f[len - 1]!.code) !== BPF_RET) return 'last instruction is not a return';
  return null;
}

/**
 * bpf_validate: true when f is safe to run.  Jumps land inside the
 * program (and, being unsigned offsets, only forward), there is no
 * division or modulus by a constant zero, scratch indices are below
 * BPF_MEMWORDS and no scratch word is read before it is written, every
 * opcode is known, the length is 1..BPF_MAXINSNS and the last
 * instruction returns, so execution always ends.
 */
export function bpf_validate(f: readonly BpfInsn[]): boolean {
  return bpf_validate_reason(f) === null;
}
