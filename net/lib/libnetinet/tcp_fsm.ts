/*
 * tcp_fsm.ts: the TCP connection states and what each one sends (NetBSD's
 * netinet/tcp_fsm.h; RFC 9293 section 3.3.2, the state diagram).
 *
 * Place in the packet path: tcp_input() moves a connection between these
 * states; tcp_output() asks tcp_outflags[t_state] which control bits a
 * segment sent in that state carries.  The numbering is NetBSD's (netstat
 * and the trace ring print the names), and the order matters: every state
 * from ESTABLISHED on has been synchronized, every one after CLOSE_WAIT
 * has had its FIN sent (TCPS_HAVERCVDFIN and friends compare numbers).
 */

import { TH_ACK, TH_FIN, TH_RST, TH_SYN } from './tcp.ts';

export const TCP_NSTATES = 11;

/** Closed: no connection (a fresh or finished tcpcb). */
export const TCPS_CLOSED = 0;
/** Listening for a connection (passive open). */
export const TCPS_LISTEN = 1;
/** Active open: our SYN sent, waiting for the peer's. */
export const TCPS_SYN_SENT = 2;
/** SYN sent and received; waiting for the ACK of ours. */
export const TCPS_SYN_RECEIVED = 3;
/* States from here on have seen both SYNs (synchronized). */
/** Data flows both ways. */
export const TCPS_ESTABLISHED = 4;
/** The peer closed (its FIN received); waiting for our user to close. */
export const TCPS_CLOSE_WAIT = 5;
/* States from here on have sent their FIN. */
/** We closed, our FIN is not yet acknowledged. */
export const TCPS_FIN_WAIT_1 = 6;
/** Both closed at once (simultaneous close); waiting for our FIN's ACK. */
export const TCPS_CLOSING = 7;
/** We closed after the peer did; waiting for our FIN's ACK. */
export const TCPS_LAST_ACK = 8;
/* States from here on have had their FIN acknowledged. */
/** Our FIN is acknowledged; waiting for the peer's. */
export const TCPS_FIN_WAIT_2 = 9;
/** Both FINs done; waiting 2*MSL for stray segments to die. */
export const TCPS_TIME_WAIT = 10;

/** Both SYNs have been received (SYN_RECEIVED and later). */
export function TCPS_HAVERCVDSYN(s: number): boolean {
  return s >= TCPS_SYN_RECEIVED;
}
/** The connection has been established (ESTABLISHED and later). */
export function TCPS_HAVEESTABLISHED(s: number): boolean {
  return s >= TCPS_ESTABLISHED;
}
/** The peer's FIN has been received. */
export function TCPS_HAVERCVDFIN(s: number): boolean {
  return s === TCPS_CLOSE_WAIT || s === TCPS_CLOSING || s === TCPS_LAST_ACK || s === TCPS_TIME_WAIT;
}

/** State names as netstat and trpt print them. */
export const tcpstates: readonly string[] = [
  'CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RCVD', 'ESTABLISHED', 'CLOSE_WAIT',
  'FIN_WAIT_1', 'CLOSING', 'LAST_ACK', 'FIN_WAIT_2', 'TIME_WAIT',
];

/**
 * The flags a segment sent in each state carries (NetBSD's tcp_outflags):
 * a CLOSED tcpcb answers with RST|ACK, LISTEN sends nothing, SYN_SENT a
 * bare SYN, SYN_RECEIVED SYN|ACK, the FIN-sending states FIN|ACK, the
 * rest a plain ACK.  tcp_output() clears SYN and FIN again when they have
 * already been sent and are not being retransmitted.
 */
export const tcp_outflags: readonly number[] = [
  TH_RST | TH_ACK, 0, TH_SYN, TH_SYN | TH_ACK,
  TH_ACK, TH_ACK,
  TH_FIN | TH_ACK, TH_FIN | TH_ACK, TH_FIN | TH_ACK, TH_ACK, TH_ACK,
];
