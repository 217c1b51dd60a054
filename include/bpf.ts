/*
 * Berkeley Packet Filter constants and types (NetBSD's net/bpf.h and
 * net/dlt.h): the classic instruction encoding, the limits bpf_validate
 * enforces, the capture record header and the link types we speak.
 * Shared by the interpreter, the JIT, the expression compiler and the
 * bpf device, and by user programs that build filters by hand.
 */

/** One instruction (struct bpf_insn): opcode, jump offsets, constant. */
export interface BpfInsn {
  code: number;
  /** Conditional jumps: instructions to skip when true (0..255). */
  jt: number;
  /** Conditional jumps: instructions to skip when false (0..255). */
  jf: number;
  /** The constant operand, as an unsigned 32-bit value. */
  k: number;
}

/** Scratch memory words (M[0..15]). */
export const BPF_MEMWORDS = 16;
/** Longest program bpf_validate accepts. */
export const BPF_MAXINSNS = 512;
/** Largest capture buffer BIOCSBLEN accepts, and the smallest. */
export const BPF_MAXBUFSIZE = 1024 * 1024 * 16;
export const BPF_MINBUFSIZE = 32;
/** Default capture buffer (NetBSD's bpf_bufsize). */
export const BPF_DFLTBUFSIZE = 1024 * 1024;

/* Instruction classes. */
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;

/* ld/ldx sizes. */
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;

/* ld/ldx modes. */
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
export const BPF_MSH = 0xa0;

/* alu/jmp operations. */
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;

export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;

/* Operand source. */
export const BPF_K = 0x00;
export const BPF_X = 0x08;

/* ret operand. */
export const BPF_A = 0x10;

/* misc operations. */
export const BPF_TAX = 0x00;
export const BPF_TXA = 0x80;

export function BPF_CLASS(code: number): number {
  return code & 0x07;
}
export function BPF_SIZE(code: number): number {
  return code & 0x18;
}
export function BPF_MODE(code: number): number {
  return code & 0xe0;
}
export function BPF_OP(code: number): number {
  return code & 0xf0;
}
export function BPF_SRC(code: number): number {
  return code & 0x08;
}
export function BPF_RVAL(code: number): number {
  return code & 0x18;
}
export function BPF_MISCOP(code: number): number {
  return code & 0xf8;
}

/** A statement (BPF_STMT macro). */
export function BPF_STMT(code: number, k: number): BpfInsn {
  return { code, jt: 0, jf: 0, k: k >>> 0 };
}

/** A jump (BPF_JUMP macro). */
export function BPF_JUMP(code: number, k: number, jt: number, jf: number): BpfInsn {
  return { code, jt, jf, k: k >>> 0 };
}

/* Link types (net/dlt.h). */
export const DLT_NULL = 0;
export const DLT_EN10MB = 1;

/**
 * The record header bpf(4) puts before each captured packet (struct
 * bpf_hdr on LP64 NetBSD: a struct bpf_timeval of two longs, then
 * bh_caplen, bh_datalen, bh_hdrlen).  Records are aligned to BPF_ALIGNMENT.
 */
export const BPF_HDR_TSTAMP_SEC_OFF = 0;
export const BPF_HDR_TSTAMP_USEC_OFF = 8;
export const BPF_HDR_CAPLEN_OFF = 16;
export const BPF_HDR_DATALEN_OFF = 20;
export const BPF_HDR_HDRLEN_OFF = 24;
/** sizeof(struct bpf_hdr): 26 bytes of fields padded to 32. */
export const SIZEOF_BPF_HDR = 32;
export const BPF_ALIGNMENT = 8;
export function BPF_WORDALIGN(x: number): number {
  return (x + (BPF_ALIGNMENT - 1)) & ~(BPF_ALIGNMENT - 1);
}

/** BIOCGSTATS (struct bpf_stat): packets seen by the filter, and dropped for lack of buffer. */
export interface BpfStat {
  bs_recv: number;
  bs_drop: number;
  /** Packets that passed the filter. */
  bs_capt: number;
}
