/*
 * The kernel message buffer (NetBSD's msgbuf, read by dmesg(8)).
 *
 * Text written by printf/log is kept line by line with its priority and
 * the uptime at which the line began, in a buffer of bounded size: once
 * full, the oldest lines go, as in the circular buffer of the original.
 */

export const MSGBUFSIZE = 16 * 1024;

export interface MsgbufLine {
  readonly level: number;
  /** Uptime in nanoseconds when the line started. */
  readonly ns: number;
  readonly text: string;
}

export class Msgbuf {
  private lines: MsgbufLine[] = [];
  private head = 0;
  private bytes = 0;
  private partial = '';
  private partialLevel = 0;
  private partialNs = 0;
  /** Bytes dropped because the buffer was full. */
  msg_dropped = 0;

  constructor(readonly msg_bufs: number = MSGBUFSIZE) {}

  msgbuf_write(s: string, level: number, ns: number): void {
    let start = 0;
    for (;;) {
      const nl = s.indexOf('\n', start);
      const piece = nl < 0 ? s.slice(start) : s.slice(start, nl);
      if (this.partial === '' ) {
        this.partialLevel = level;
        this.partialNs = ns;
      }
      this.partial += piece;
      if (nl < 0) break;
      this.push({ level: this.partialLevel, ns: this.partialNs, text: this.partial });
      this.partial = '';
      start = nl + 1;
      if (start >= s.length) break;
    }
  }

  private push(line: MsgbufLine): void {
    this.lines.push(line);
    this.bytes += line.text.length + 1;
    while (this.bytes > this.msg_bufs && this.head < this.lines.length) {
      const old = this.lines[this.head++]!;
      this.bytes -= old.text.length + 1;
      this.msg_dropped += old.text.length + 1;
    }
    if (this.head > 1024 && this.head * 2 > this.lines.length) {
      this.lines = this.lines.slice(this.head);
      this.head = 0;
    }
  }

  /** The lines held now, oldest first (an unterminated last line included). */
  msgbuf_lines(): MsgbufLine[] {
    const out = this.lines.slice(this.head);
    if (this.partial !== '') out.push({ level: this.partialLevel, ns: this.partialNs, text: this.partial });
    return out;
  }

  /** dmesg(8) text: `[   12.345678] message` per line. */
  dmesg(): string {
    return this.msgbuf_lines().map((l) => `[${(l.ns / 1e9).toFixed(6).padStart(12)}] ${l.text}\n`).join('');
  }
}
