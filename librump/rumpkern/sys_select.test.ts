/*
 * Unit tests for poll(2) (sys_select.ts) over pipes and the console:
 * readiness bits, POLLHUP and POLLNVAL, ignored entries, timeouts in
 * virtual time, and wakeups of one or many sleeping pollers by other
 * syscalls.
 */

import { describe, it, expect } from 'vitest';
import { simWorld, bootSim } from '../../tests/kernel.ts';
import type { Kernel } from './rump.ts';
import { PIPE_BUF, PIPE_SIZE } from './sys_pipe.ts';
import {
  FIONREAD, INFTIM, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM, type PollFd,
} from '../../include/syscall.ts';

async function boot(): Promise<{ w: ReturnType<typeof simWorld>; k: Kernel }> {
  const w = simWorld({ seed: 1 });
  const k = await bootSim(w);
  return { w, k };
}

function pfd(fd: number, events: number, revents = 0): PollFd {
  return { fd, events, revents };
}

/** Track whether a promise has settled, its value, and the virtual time it did. */
function track<T>(w: ReturnType<typeof simWorld>, p: Promise<T>): { done: boolean; value?: T; error?: unknown; at: number; p: Promise<void> } {
  const st: { done: boolean; value?: T; error?: unknown; at: number; p: Promise<void> } = { done: false, at: -1, p: Promise.resolve() };
  st.p = p.then(
    (v) => { st.done = true; st.value = v; st.at = w.nowMs(); },
    (e: unknown) => { st.done = true; st.error = e; st.at = w.nowMs(); },
  );
  return st;
}

describe('readiness', () => {
  it('POLLIN only when the pipe has data; POLLOUT on the write end while there is room', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const fds = [pfd(r, POLLIN), pfd(wr, POLLOUT)];
    expect(await k.sys.poll(fds, 0)).toBe(1);
    expect(fds[0]!.revents).toBe(0);
    expect(fds[1]!.revents).toBe(POLLOUT);
    await k.sys.write(wr, 'x');
    expect(await k.sys.poll(fds, 0)).toBe(2);
    expect(fds[0]!.revents).toBe(POLLIN);
    expect(fds[1]!.revents).toBe(POLLOUT);
    /* Only the requested bits are reported (POLLPRI never is for a pipe). */
    const both = [pfd(r, POLLIN | POLLRDNORM | POLLPRI)];
    expect(await k.sys.poll(both, 0)).toBe(1);
    expect(both[0]!.revents).toBe(POLLIN | POLLRDNORM);
    const wn = [pfd(wr, POLLWRNORM)];
    expect(await k.sys.poll(wn, 0)).toBe(1);
    expect(wn[0]!.revents).toBe(POLLWRNORM);
    /* Drained: not readable any more. */
    await k.sys.read(r, new Uint8Array(8));
    expect(await k.sys.poll(fds, 0)).toBe(1);
    expect(fds[0]!.revents).toBe(0);
  });

  it('the write end is not writable with less than PIPE_BUF bytes of room', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    await k.sys.write(wr, new Uint8Array(PIPE_SIZE));
    const fds = [pfd(wr, POLLOUT)];
    expect(await k.sys.poll(fds, 0)).toBe(0);
    expect(fds[0]!.revents).toBe(0);
    await k.sys.read(r, new Uint8Array(PIPE_BUF - 1));
    expect(await k.sys.poll(fds, 0)).toBe(0);
    await k.sys.read(r, new Uint8Array(1));
    expect(await k.sys.poll(fds, 0)).toBe(1);
    expect(fds[0]!.revents).toBe(POLLOUT);
  });

  it('POLLHUP (with POLLIN) on the read end after the writer closes, even with nothing asked', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    await k.sys.close(wr);
    const fds = [pfd(r, POLLIN)];
    expect(await k.sys.poll(fds, 0)).toBe(1);
    expect(fds[0]!.revents).toBe(POLLIN | POLLHUP);
    /* POLLHUP cannot be masked out. */
    const none = [pfd(r, 0)];
    expect(await k.sys.poll(none, 0)).toBe(1);
    expect(none[0]!.revents).toBe(POLLHUP);
  });

  it('POLLHUP on the write end after the reader closes', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const fds = [pfd(wr, POLLOUT)];
    await k.sys.close(r);
    expect(await k.sys.poll(fds, 0)).toBe(1);
    expect(fds[0]!.revents & (POLLHUP | POLLNVAL | POLLIN)).toBe(POLLHUP);
  });

  it('a dup keeps the pipe alive: no POLLHUP while another descriptor of the writer is open', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const wr2 = await k.sys.dup(wr);
    await k.sys.close(wr);
    const fds = [pfd(r, POLLIN)];
    expect(await k.sys.poll(fds, 0)).toBe(0);
    expect(fds[0]!.revents).toBe(0);
    await k.sys.close(wr2);
    expect(await k.sys.poll(fds, 0)).toBe(1);
    expect(fds[0]!.revents).toBe(POLLIN | POLLHUP);
  });

  it('POLLNVAL for a descriptor that is not open, counted as ready', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    await k.sys.close(r);
    const fds = [pfd(r, POLLIN), pfd(99, POLLOUT), pfd(wr, 0)];
    expect(await k.sys.poll(fds, 0)).toBe(3);
    expect(fds[0]!.revents).toBe(POLLNVAL);
    expect(fds[1]!.revents).toBe(POLLNVAL);
    expect(fds[2]!.revents).toBe(POLLHUP);
    /* POLLNVAL also ends a poll that would otherwise wait forever. */
    const [r2] = await k.sys.pipe();
    const mixed = [pfd(r2, POLLIN), pfd(40, POLLIN)];
    expect(await k.sys.poll(mixed, INFTIM)).toBe(1);
    expect(mixed.map((f) => f.revents)).toEqual([0, POLLNVAL]);
  });

  it('an entry with a negative fd is ignored and its revents cleared', async () => {
    const { k } = await boot();
    const [r, wr] = await k.sys.pipe();
    await k.sys.write(wr, 'data');
    const fds = [pfd(-1, POLLIN, 0xffff), pfd(r, POLLIN, 0xffff), pfd(-7, POLLOUT, POLLNVAL)];
    expect(await k.sys.poll(fds, 0)).toBe(1);
    expect(fds.map((f) => f.revents)).toEqual([0, POLLIN, 0]);
    const only = [pfd(-1, POLLIN)];
    expect(await k.sys.poll(only, 0)).toBe(0);
    expect(only[0]!.revents).toBe(0);
  });

  it('stale revents are overwritten by every poll', async () => {
    const { k } = await boot();
    const [r] = await k.sys.pipe();
    const fds = [pfd(r, POLLIN, POLLIN | POLLERR)];
    expect(await k.sys.poll(fds, 0)).toBe(0);
    expect(fds[0]!.revents).toBe(0);
  });

  it('the console is always readable and writable', async () => {
    const { k } = await boot();
    const fds = [pfd(0, POLLIN), pfd(1, POLLOUT), pfd(2, POLLIN | POLLOUT)];
    expect(await k.sys.poll(fds, INFTIM)).toBe(3);
    expect(fds.map((f) => f.revents)).toEqual([POLLIN, POLLOUT, POLLIN | POLLOUT]);
  });

  it('more entries than kern.maxfiles is EINVAL', async () => {
    const { k } = await boot();
    await k.sys.sysctl('kern.maxfiles', 16);
    const fds = Array.from({ length: 17 }, () => pfd(-1, POLLIN));
    await expect(k.sys.poll(fds, 0)).rejects.toMatchObject({ code: 'EINVAL' });
    expect(await k.sys.poll(fds.slice(0, 16), 0)).toBe(0);
  });
});

describe('timeouts', () => {
  it('timeout 0 returns at once, with no virtual time passing', async () => {
    const { w, k } = await boot();
    const [r] = await k.sys.pipe();
    const t0 = w.nowMs();
    const fds = [pfd(r, POLLIN)];
    expect(await k.sys.poll(fds, 0)).toBe(0);
    expect(fds[0]!.revents).toBe(0);
    expect(w.nowMs()).toBe(t0);
  });

  it('a poll with nothing ready returns 0 after exactly its timeout', async () => {
    const { w, k } = await boot();
    const [r, wr] = await k.sys.pipe();
    await k.sys.write(wr, new Uint8Array(PIPE_SIZE));
    for (const ms of [10, 50, 1000, 7500]) {
      const fds = [pfd(wr, POLLOUT), pfd(-1, POLLIN)];
      const t0 = w.nowMs();
      expect(await k.sys.poll(fds, ms)).toBe(0);
      expect(w.nowMs() - t0).toBe(ms);
      expect(fds.map((f) => f.revents)).toEqual([0, 0]);
    }
    /* And with no descriptors at all (a sleep). */
    const t1 = w.nowMs();
    expect(await k.sys.poll([], 300)).toBe(0);
    expect(w.nowMs() - t1).toBe(300);
    expect(r).toBe(3);
  });

  it('a timeout that is not a whole number of ticks waits at least that long', async () => {
    const { w, k } = await boot();
    const [r] = await k.sys.pipe();
    const t0 = w.nowMs();
    expect(await k.sys.poll([pfd(r, POLLIN)], 25)).toBe(0);
    const waited = w.nowMs() - t0;
    expect(waited).toBeGreaterThanOrEqual(25);
    expect(waited).toBeLessThanOrEqual(30);
  });

  it('a poll started between two ticks still waits at least its timeout', async () => {
    const { w, k } = await boot();
    const [r] = await k.sys.pipe();
    await w.advance(3); /* 3 ms past a tick */
    const t0 = w.nowMs();
    expect(await k.sys.poll([pfd(r, POLLIN)], 50)).toBe(0);
    const waited = w.nowMs() - t0;
    expect(waited).toBeGreaterThanOrEqual(50);
    expect(waited).toBeLessThanOrEqual(60);
  });

  it.each([100, 60, 1000])('at hz %i every timeout is waited in full and by less than a tick more', async (hz) => {
    const w = simWorld({ seed: 1 });
    const k = await bootSim(w, { hz });
    const [r] = await k.sys.pipe();
    const tickMs = 1000 / hz;
    for (const offset of [0, 3, 7.5]) {
      for (const ms of [1, 25, 50, 1000]) {
        await w.advance(offset);
        const t0 = w.nowMs();
        expect(await k.sys.poll([pfd(r, POLLIN)], ms)).toBe(0);
        const waited = w.nowMs() - t0;
        expect(waited).toBeGreaterThanOrEqual(ms - 1e-6);
        expect(waited).toBeLessThan(ms + tickMs + 1e-6);
      }
    }
  });

  it('a wakeup that does not make the descriptor ready does not shorten the timeout', async () => {
    const { w, k } = await boot();
    const [r, wr] = await k.sys.pipe();
    await k.sys.write(wr, new Uint8Array(PIPE_SIZE));
    const t0 = w.nowMs();
    const fds = [pfd(wr, POLLOUT)];
    const p = track(w, k.sys.poll(fds, 100));
    await w.advance(30);
    /* Room for 100 bytes: the poller is woken, rescans, finds less than PIPE_BUF and sleeps again. */
    expect(await k.sys.read(r, new Uint8Array(100))).toBe(100);
    await w.advance(0);
    expect(p.done).toBe(false);
    await p.p;
    expect(p.value).toBe(0);
    expect(p.at - t0).toBe(100);
    expect(fds[0]!.revents).toBe(0);
  });

  it('data arriving before the timeout ends the poll at that moment', async () => {
    const { w, k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const t0 = w.nowMs();
    const fds = [pfd(r, POLLIN)];
    const p = track(w, k.sys.poll(fds, 1000));
    await w.advance(420);
    expect(p.done).toBe(false);
    await k.sys.write(wr, 'now');
    await p.p;
    expect(p.value).toBe(1);
    expect(fds[0]!.revents).toBe(POLLIN);
    expect(p.at - t0).toBe(420);
    /* The timeout was cancelled: nothing happens at t0 + 1000. */
    await w.advance(1000);
    expect(p.value).toBe(1);
  });
});

describe('wakeups', () => {
  it('a poll blocked on an empty pipe wakes at the virtual time of the write (w.schedule)', async () => {
    const { w, k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const t0 = w.nowMs();
    const fds = [pfd(r, POLLIN)];
    let writer: Promise<number> | null = null;
    w.schedule(w.nowNs() + 250_000_000, () => { writer = k.sys.write(wr, 'tick'); });
    const n = await k.sys.poll(fds, INFTIM);
    /* Virtual time jumped by itself to the write: the poll was blocked in the kernel. */
    expect(w.nowMs() - t0).toBe(250);
    expect(n).toBe(1);
    expect(fds[0]!.revents).toBe(POLLIN);
    expect(await writer!).toBe(4);
    expect(await k.sys.ioctl(r, FIONREAD)).toBe(4);
  });

  it('a poll blocked on an empty pipe wakes when a write follows w.advance()', async () => {
    const { w, k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const t0 = w.nowMs();
    const fds = [pfd(r, POLLIN | POLLRDNORM), pfd(wr, 0)];
    const p = track(w, k.sys.poll(fds, INFTIM));
    await w.advance(1234);
    expect(p.done).toBe(false);
    await k.sys.write(wr, 'x');
    await p.p;
    expect(p.value).toBe(1);
    expect(p.at - t0).toBe(1234);
    expect(fds.map((f) => f.revents)).toEqual([POLLIN | POLLRDNORM, 0]);
  });

  it('a blocked POLLIN poller wakes with POLLHUP when the writer closes', async () => {
    const { w, k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const fds = [pfd(r, POLLIN)];
    const p = track(w, k.sys.poll(fds, INFTIM));
    await w.advance(10);
    expect(p.done).toBe(false);
    await k.sys.close(wr);
    await p.p;
    expect(p.value).toBe(1);
    expect(fds[0]!.revents).toBe(POLLIN | POLLHUP);
  });

  it('a blocked POLLOUT poller wakes when the reader makes PIPE_BUF bytes of room', async () => {
    const { w, k } = await boot();
    const [r, wr] = await k.sys.pipe();
    await k.sys.write(wr, new Uint8Array(PIPE_SIZE));
    const fds = [pfd(wr, POLLOUT)];
    const p = track(w, k.sys.poll(fds, INFTIM));
    await w.advance(5);
    await k.sys.read(r, new Uint8Array(PIPE_BUF));
    await p.p;
    expect(p.value).toBe(1);
    expect(fds[0]!.revents).toBe(POLLOUT);
  });

  it('a blocked POLLOUT poller wakes with POLLHUP when the reader closes', async () => {
    const { w, k } = await boot();
    const [r, wr] = await k.sys.pipe();
    await k.sys.write(wr, new Uint8Array(PIPE_SIZE));
    const fds = [pfd(wr, POLLOUT)];
    const p = track(w, k.sys.poll(fds, 5000));
    await w.advance(5);
    expect(p.done).toBe(false);
    await k.sys.close(r);
    await p.p;
    expect(p.value).toBe(1);
    expect(fds[0]!.revents & POLLHUP).toBe(POLLHUP);
    expect(p.at).toBeLessThan(5000);
  });

  it('several pollers on one pipe all wake on one write', async () => {
    const { w, k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const r2 = await k.sys.dup(r);
    const t0 = w.nowMs();
    const sets = [[pfd(r, POLLIN)], [pfd(r, POLLIN)], [pfd(r2, POLLIN)], [pfd(-1, 0), pfd(r, POLLIN)]];
    const ps = sets.map((fds, i) => track(w, k.sys.poll(fds, i === 1 ? 10_000 : INFTIM)));
    await w.advance(77);
    expect(ps.map((p) => p.done)).toEqual([false, false, false, false]);
    await k.sys.write(wr, 'all');
    await Promise.all(ps.map((p) => p.p));
    expect(ps.map((p) => p.value)).toEqual([1, 1, 1, 1]);
    expect(ps.map((p) => p.at - t0)).toEqual([77, 77, 77, 77]);
    expect(sets.map((fds) => fds.at(-1)!.revents)).toEqual([POLLIN, POLLIN, POLLIN, POLLIN]);
    /* Nobody consumed the data. */
    expect(await k.sys.read(r, new Uint8Array(8))).toBe(3);
  });

  it('a poller on two pipes wakes for the one that becomes ready and reports only it', async () => {
    const { w, k } = await boot();
    const [ra, wa] = await k.sys.pipe();
    const [rb, wb] = await k.sys.pipe();
    const fds = [pfd(ra, POLLIN), pfd(rb, POLLIN)];
    const p = track(w, k.sys.poll(fds, INFTIM));
    await w.advance(20);
    await k.sys.write(wb, 'b');
    await p.p;
    expect(p.value).toBe(1);
    expect(fds.map((f) => f.revents)).toEqual([0, POLLIN]);
    /* The poller left no registration behind: a later write to pipe a wakes nothing stale. */
    await k.sys.write(wa, 'a');
    expect(await k.sys.poll(fds, 0)).toBe(2);
  });

  it('the same poller can poll again after being woken', async () => {
    const { w, k } = await boot();
    const [r, wr] = await k.sys.pipe();
    const fds = [pfd(r, POLLIN)];
    for (let i = 1; i <= 3; i++) {
      const t0 = w.nowMs();
      const p = track(w, k.sys.poll(fds, INFTIM));
      await w.advance(10 * i);
      await k.sys.write(wr, 'x');
      await p.p;
      expect(p.value).toBe(1);
      expect(p.at - t0).toBe(10 * i);
      expect(await k.sys.read(r, new Uint8Array(4))).toBe(1);
    }
  });
});
