/*
 * The narrow interface between sockin's kernel half (sockin.ts) and its
 * host half (sockin_user.ts), as NetBSD's sockin.c and the host socket
 * calls it makes through rumpuser: a table of hypercalls the kernel calls,
 * and a table of upcalls the host calls back.  Types only: nothing here
 * touches the host, so the kernel half bundles without node: modules.
 *
 * Rules both halves keep:
 *   - a hypercall never calls an upcall before it returns (a result known
 *     at once is returned instead; anything else arrives later from the
 *     host loop), because upcalls enter the kernel as interrupts, which
 *     must not nest inside the kernel call that made the hypercall;
 *   - addresses are IPv4 dotted quads and ports in host order;
 *   - errors are NetBSD errno numbers (the host half translates);
 *   - after close() or fini() no upcall names that handle again.
 */

/** An IPv4 address and port, as the host's socket API takes them. */
export interface SockinAddr {
  host: string;
  port: number;
}

export type SockinType = 'tcp' | 'udp';

/** A host socket; opaque to the kernel. */
export interface SockinHandle {
  readonly sh_id: number;
}

/** Socket options that map onto the host (the kernel answers ENOPROTOOPT for the rest). */
export type SockinOpt = 'reuseaddr' | 'keepalive' | 'nodelay' | 'rcvbuf' | 'sndbuf' | 'ttl';

/** Upcalls: host events for the socket whose kernel cookie is c. */
export interface SockinUpcalls<C> {
  /** A bind (or the implicit bind of a listen) that returned null finished: 0 and the local address, or an errno. */
  bound(c: C, error: number, local: SockinAddr | null): void;
  /** A stream connect finished. */
  connected(c: C, local: SockinAddr, peer: SockinAddr): void;
  /** A listener got a connection: a paused host socket, to adopt() or close(). */
  accepted(c: C, child: SockinHandle, local: SockinAddr, peer: SockinAddr): void;
  /** Stream bytes, or one datagram and its sender. */
  data(c: C, data: Uint8Array, from: SockinAddr | null): void;
  /** The peer closed its sending side. */
  eof(c: C): void;
  /** The connection (or connect) failed; for a datagram socket, an asynchronous error. */
  error(c: C, errno: number): void;
  /** Everything written has gone to the host's kernel (after write() returned a backlog). */
  drain(c: C): void;
}

/** Hypercalls: what the kernel asks of the host. */
export interface SockinHypercalls<C> {
  create(type: SockinType, c: C): SockinHandle;
  /** An accepted socket gets its cookie and starts delivering. */
  adopt(h: SockinHandle, c: C): void;
  /**
   * Bind to local.  A stream socket's host bind is a listen (the only way a
   * host stream socket holds a port before connecting); connections that
   * arrive before listen() are reset.  Returns the errno (0 = bound) when
   * known at once, null when the outcome comes later through bound().
   */
  bind(h: SockinHandle, local: SockinAddr): number | null;
  /** The local address the host gave (after bind or connect), if known. */
  localaddr(h: SockinHandle): SockinAddr | null;
  /** Start handing connections to accepted() (a bound stream socket). */
  listen(h: SockinHandle): void;
  /** Start a stream connect; local is the address bound before, if any. */
  connect(h: SockinHandle, peer: SockinAddr, local: SockinAddr | null): void;
  /** Stream data; returns the bytes the host still holds (drain() follows when that is not 0). */
  write(h: SockinHandle, data: Uint8Array): number;
  /** One datagram; an immediate errno, or 0. */
  sendto(h: SockinHandle, data: Uint8Array, to: SockinAddr): number;
  /** Stream: no more data from us (FIN once the host has sent what it holds). */
  shutdown(h: SockinHandle): void;
  /** Receive flow control: stop and restart reading from the host. */
  pause(h: SockinHandle): void;
  resume(h: SockinHandle): void;
  /** Set an option; an errno. */
  setopt(h: SockinHandle, opt: SockinOpt, value: number): number;
  /** Close: gracefully (pending data is sent, then FIN), or abort (RST). */
  close(h: SockinHandle, abort: boolean): void;
  /** Close every host socket (the kernel halts). */
  fini(): void;
}
