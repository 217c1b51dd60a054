/*
 * rumpcons: the console device behind fds 0-2 of the local process
 * (NetBSD rump's cons.c).  Writes go to the host through rumpuser_putstr;
 * reads see end-of-file, as the host owns the real terminal.
 */

import type { Kernel } from './rump.ts';
import type { Lwp } from './lwproc.ts';
import { DTYPE_MISC, file_alloc, type File, type Fileops, type Uio } from './kern_descrip.ts';
import { ENOTTY } from '../../include/errno.ts';
import { FREAD, FWRITE, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, S_IFCHR, type Stat } from '../../include/syscall.ts';

/** Decoder state per console file, so multi-byte characters split across writes survive. */
class Cons {
  readonly decoder = new TextDecoder('utf-8');
}

function cons_write(fp: File, l: Lwp, uio: Uio): number {
  const c = fp.f_data as Cons;
  const bytes = uio.uio_buf.subarray(uio.uio_offset, uio.uio_offset + uio.uio_resid);
  l.l_kernel.hyp.rumpuser_putstr(c.decoder.decode(bytes, { stream: true }));
  uio.uio_offset += uio.uio_resid;
  uio.uio_resid = 0;
  return 0;
}

const consops: Fileops = {
  fo_name: 'cons',
  fo_read: () => 0,
  fo_write: cons_write,
  fo_ioctl: () => ENOTTY,
  fo_fcntl: () => 0,
  fo_poll: (_fp, _l, events) => events & (POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM),
  fo_stat: (_fp, st: Stat) => {
    st.st_mode = S_IFCHR | 0o600;
    return 0;
  },
  fo_close: () => 0,
};

/** A file open on the console (read+write). */
export function cons_open(k: Kernel): File | null {
  return file_alloc(k, FREAD | FWRITE, DTYPE_MISC, consops, new Cons());
}
