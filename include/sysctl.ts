/*
 * sysctl names and numbers shared by the kernel (librump/rumpkern/
 * kern_sysctl.ts) and its users (the __sysctl syscall, rump.sysctl): the
 * NetBSD top-level MIB numbers, the kern.* numbers, node types and flags,
 * after sys/sysctl.h.
 */

/* Top-level names: the first element of every MIB. */
export const CTL_UNSPEC = 0;
export const CTL_KERN = 1;
export const CTL_VM = 2;
export const CTL_VFS = 3;
export const CTL_NET = 4;
export const CTL_DEBUG = 5;
export const CTL_HW = 6;
export const CTL_MACHDEP = 7;
export const CTL_USER = 8;
export const CTL_DDB = 9;
export const CTL_PROC = 10;
export const CTL_VENDOR = 11;
export const CTL_EMUL = 12;
export const CTL_SECURITY = 13;

/* Second-level names under CTL_KERN. */
export const KERN_OSTYPE = 1;
export const KERN_OSRELEASE = 2;
export const KERN_OSREV = 3;
export const KERN_VERSION = 4;
export const KERN_MAXPROC = 6;
export const KERN_MAXFILES = 7;
export const KERN_HOSTNAME = 10;
export const KERN_HOSTID = 11;
export const KERN_CLOCKRATE = 12;
export const KERN_DOMAINNAME = 22;
export const KERN_MSGBUFSIZE = 31;
export const KERN_BOOTTIME = 83;

/* Node types (the low bits of sysctl_flags in NetBSD, a field of its own here). */
export const CTLTYPE_NODE = 1;
export const CTLTYPE_INT = 2;
export const CTLTYPE_STRING = 3;
export const CTLTYPE_QUAD = 4;
export const CTLTYPE_STRUCT = 5;
export const CTLTYPE_BOOL = 6;

export type CtlType =
  | typeof CTLTYPE_NODE
  | typeof CTLTYPE_INT
  | typeof CTLTYPE_STRING
  | typeof CTLTYPE_QUAD
  | typeof CTLTYPE_STRUCT
  | typeof CTLTYPE_BOOL;

/* Node flags. */
export const CTLFLAG_READONLY = 0x00000000;
export const CTLFLAG_READWRITE = 0x00000070;
export const CTLFLAG_PERMANENT = 0x00000100;
export const CTLFLAG_HEX = 0x00002000;

/* As a node number: "pick one for me" (>= CREATE_BASE, unique per parent). */
export const CTL_CREATE = -1;
/* As the last element of a MIB: list the children of the node it names. */
export const CTL_QUERY = -2;
export const CREATE_BASE = 1024;

/* Longest MIB, and the size of a name including C's terminating NUL. */
export const CTL_MAXNAME = 12;
export const SYSCTL_NAMELEN = 32;

/** The name sysctl(8) uses for a node type, for messages and listings. */
export function ctltypeName(type: number): string {
  switch (type) {
    case CTLTYPE_NODE: return 'node';
    case CTLTYPE_INT: return 'int';
    case CTLTYPE_STRING: return 'string';
    case CTLTYPE_QUAD: return 'quad';
    case CTLTYPE_STRUCT: return 'struct';
    case CTLTYPE_BOOL: return 'bool';
    default: return `type ${type}`;
  }
}

/**
 * One child as CTL_QUERY lists it: NetBSD's struct sysctlnode, the fields
 * a user program needs to walk the tree (sysctl -a) and to type a value it
 * writes (sysctl -w).
 */
export interface SysctlQueryNode {
  sysctl_name: string;
  sysctl_num: number;
  sysctl_type: CtlType;
  sysctl_flags: number;
  sysctl_desc: string;
}
