/*
 * Interface constants and ioctl request shapes (NetBSD's net/if.h,
 * net/if_types.h and sys/sockio.h).  ioctl numbers are NetBSD's, built
 * with the same _IOW/_IOWR encoding and LP64 structure sizes.
 */

import type { Sockaddr } from './socket.ts';

export const IFNAMSIZ = 16;

export const IFF_UP = 0x0001;
export const IFF_BROADCAST = 0x0002;
export const IFF_DEBUG = 0x0004;
export const IFF_LOOPBACK = 0x0008;
export const IFF_POINTOPOINT = 0x0010;
export const IFF_RUNNING = 0x0040;
export const IFF_NOARP = 0x0080;
export const IFF_PROMISC = 0x0100;
export const IFF_ALLMULTI = 0x0200;
export const IFF_OACTIVE = 0x0400;
export const IFF_SIMPLEX = 0x0800;
export const IFF_LINK0 = 0x1000;
export const IFF_MULTICAST = 0x8000;
/** Flags only the kernel sets. */
export const IFF_CANTCHANGE = IFF_BROADCAST | IFF_POINTOPOINT | IFF_RUNNING | IFF_OACTIVE | IFF_SIMPLEX | IFF_MULTICAST | IFF_ALLMULTI | IFF_PROMISC;

export const IFT_OTHER = 0x01;
export const IFT_ETHER = 0x06;
export const IFT_LOOP = 0x18;

const IOC_OUT = 0x40000000;
const IOC_IN = 0x80000000;
const IOC_INOUT = IOC_IN | IOC_OUT;
function ioc(inout: number, group: string, num: number, len: number): number {
  return (inout | ((len & 0x1fff) << 16) | (group.charCodeAt(0) << 8) | num) >>> 0;
}
/** The group letter of an ioctl number ('i' for interfaces, 'f' for files). */
export function IOCGROUP(cmd: number): string {
  return String.fromCharCode((cmd >>> 8) & 0xff);
}

const IFREQ = 32;
const IN_ALIASREQ = 64;
const IFCONF = 16;
const IFDRV = 40;
const IFDATAREQ = 16 + 256;

export const SIOCSIFADDR = ioc(IOC_IN, 'i', 12, IFREQ);
export const SIOCSIFFLAGS = ioc(IOC_IN, 'i', 16, IFREQ);
export const SIOCGIFFLAGS = ioc(IOC_INOUT, 'i', 17, IFREQ);
export const SIOCDIFADDR = ioc(IOC_IN, 'i', 25, IFREQ);
/** An address's netmask and broadcast address (in_aliasreq with ifra_addr set). */
export const SIOCGIFALIAS = ioc(IOC_INOUT, 'i', 29, IN_ALIASREQ);
export const SIOCAIFADDR = ioc(IOC_IN, 'i', 26, IN_ALIASREQ);
export const SIOCGIFADDR = ioc(IOC_INOUT, 'i', 33, IFREQ);
export const SIOCGIFNETMASK = ioc(IOC_INOUT, 'i', 37, IFREQ);
export const SIOCGIFCONF = ioc(IOC_INOUT, 'i', 38, IFCONF);
export const SIOCIFDESTROY = ioc(IOC_IN, 'i', 121, IFREQ);
export const SIOCIFCREATE = ioc(IOC_IN, 'i', 122, IFREQ);
export const SIOCGIFMTU = ioc(IOC_INOUT, 'i', 126, IFREQ);
export const SIOCSIFMTU = ioc(IOC_IN, 'i', 127, IFREQ);
export const SIOCGIFDATA = ioc(IOC_INOUT, 'i', 133, IFDATAREQ);
export const SIOCGLINKSTR = ioc(IOC_INOUT, 'i', 135, IFDRV);
export const SIOCSLINKSTR = ioc(IOC_IN, 'i', 137, IFDRV);
export const SIOCIFGCLONERS = ioc(IOC_INOUT, 'i', 120, 16);

/** struct ifreq: the interface name and one argument, as the request needs. */
export interface Ifreq {
  ifr_name: string;
  ifr_flags?: number;
  ifr_mtu?: number;
  ifr_addr?: Sockaddr;
  ifr_index?: number;
}

/** struct in_aliasreq / ifaliasreq: add an address with its netmask and broadcast. */
export interface IfAliasreq {
  ifra_name: string;
  ifra_addr: Sockaddr;
  /** The netmask as a dotted quad in sin_addr (as ifconfig passes it). */
  ifra_mask?: Sockaddr;
  ifra_broadaddr?: Sockaddr;
}

/** SIOCSLINKSTR / SIOCGLINKSTR (struct ifdrv with ifd_cmd 0). */
export interface Ifdrv {
  ifd_name: string;
  /** The link string; null (IFLINKSTR_UNSET) to detach the backend. */
  ifd_data: string | null;
}

/** struct if_data: the counters SIOCGIFDATA reports. */
export interface IfData {
  ifi_type: number;
  ifi_addrlen: number;
  ifi_hdrlen: number;
  ifi_mtu: number;
  ifi_ipackets: number;
  ifi_ierrors: number;
  ifi_opackets: number;
  ifi_oerrors: number;
  ifi_collisions: number;
  ifi_ibytes: number;
  ifi_obytes: number;
  ifi_imcasts: number;
  ifi_omcasts: number;
  ifi_iqdrops: number;
  ifi_noproto: number;
}

/** One SIOCGIFCONF entry: an interface and one of its addresses (AF_LINK entries carry the MAC). */
export interface IfconfEntry {
  ifr_name: string;
  ifr_addr: Sockaddr | { sdl_family: 18; sdl_index: number; sdl_data: string };
}
