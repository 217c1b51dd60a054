/*
 * The native part of virtif's host half (NetBSD's virtif_user.c, for Node):
 * open a Linux TAP device and move Ethernet frames between it and the
 * kernel in JavaScript.  net/lib/libvirtif/virtif_user.ts is its only user.
 *
 * What it does, and why here rather than in JavaScript:
 *   - open("/dev/net/tun") + TUNSETIFF(IFF_TAP|IFF_NO_PI): an ioctl Node
 *     cannot make;
 *   - receive: a uv_poll on the fd (Node's fs.read would cost a thread-pool
 *     round trip per frame and spin on EAGAIN).  When the fd is readable the
 *     callback reads every frame waiting, up to a batch, into one receive
 *     area shared with JavaScript (offsets and lengths in an Int32Array),
 *     then makes ONE call into JavaScript for the whole batch.  epoll is
 *     level-triggered, so frames left over fire the poll again on the next
 *     loop turn, after timers and other I/O had theirs;
 *   - send: writev straight from the caller's buffers (an mbuf chain's
 *     storage), so a frame is not copied into a staging buffer first.
 *
 * Handles: open() returns an external; close() stops the poll, closes the
 * fd and releases everything JavaScript lent it, so nothing keeps the
 * event loop alive afterwards.  A handle still open when its Node
 * environment goes away (a worker thread ending) is closed by a cleanup
 * hook.  Errors are returned as host errno values, never thrown, except
 * for misuse (wrong argument types), which throws a TypeError.
 */

#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef __linux__
#include <linux/if.h>
#include <linux/if_tun.h>
#else
#include <net/if.h>
#endif

/* Room one read() needs: the largest frame a TAP can hand over (MTU 65535 + header). */
#define VIF_READ_MAX 65664
/* Segments send() takes (a longer chain is linearised by the caller). */
#define VIF_IOV_MAX 4
#define VIF_MAGIC 0x76697266u

typedef struct vif {
  uint32_t magic;
  napi_env env;
  int fd;
  uv_poll_t poll;
  int polling;
  /* uv_close was called / has completed; the external was finalized. */
  int closing;
  int handle_closed;
  int finalized;
  napi_ref onrx;
  napi_ref rxref;
  napi_ref descref;
  napi_async_context actx;
  uint8_t *rxbuf;
  size_t rxcap;
  int32_t *desc;
  size_t maxframes;
  char name[IFNAMSIZ];
} vif_t;

static void vif_maybe_free(vif_t *v) {
  if (v->handle_closed && v->finalized) {
    v->magic = 0;
    free(v);
  }
}

static void vif_on_close(uv_handle_t *h) {
  vif_t *v = (vif_t *)h->data;
  v->handle_closed = 1;
  vif_maybe_free(v);
}

static void vif_cleanup_hook(void *arg);

/* Close everything; safe to call more than once. */
static void vif_do_close(vif_t *v) {
  if (v->closing) return;
  v->closing = 1;
  napi_remove_env_cleanup_hook(v->env, vif_cleanup_hook, v);
  if (v->polling) uv_poll_stop(&v->poll);
  v->polling = 0;
  uv_close((uv_handle_t *)&v->poll, vif_on_close);
  if (v->fd >= 0) close(v->fd);
  v->fd = -1;
  if (v->onrx) napi_delete_reference(v->env, v->onrx);
  if (v->rxref) napi_delete_reference(v->env, v->rxref);
  if (v->descref) napi_delete_reference(v->env, v->descref);
  if (v->actx) napi_async_destroy(v->env, v->actx);
  v->onrx = v->rxref = v->descref = NULL;
  v->actx = NULL;
  v->rxbuf = NULL;
  v->desc = NULL;
}

static void vif_cleanup_hook(void *arg) {
  vif_do_close((vif_t *)arg);
}

static void vif_finalize(napi_env env, void *data, void *hint) {
  vif_t *v = (vif_t *)data;
  (void)env;
  (void)hint;
  vif_do_close(v);
  v->finalized = 1;
  vif_maybe_free(v);
}

/* Hand a batch (or a read error) to JavaScript: onrx(nframes, errno). */
static void vif_upcall(vif_t *v, int n, int err) {
  napi_env env = v->env;
  napi_handle_scope scope;
  napi_value cb, recv, argv[2], result;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (napi_get_reference_value(env, v->onrx, &cb) == napi_ok && cb != NULL) {
    napi_get_global(env, &recv);
    napi_create_int32(env, n, &argv[0]);
    napi_create_int32(env, err, &argv[1]);
    /* make_callback, not call_function: promises resolved in the kernel run before we return to the loop. */
    if (napi_make_callback(env, v->actx, recv, cb, 2, argv, &result) == napi_pending_exception) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
      napi_fatal_exception(env, e);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void vif_on_readable(uv_poll_t *p, int status, int events) {
  vif_t *v = (vif_t *)p->data;
  size_t off = 0;
  int n = 0, err = 0;
  (void)events;
  if (v->closing) return;
  if (status < 0) {
    err = -status;
  } else {
    while ((size_t)n < v->maxframes && v->rxcap - off >= VIF_READ_MAX) {
      ssize_t r = read(v->fd, v->rxbuf + off, VIF_READ_MAX);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
        break;
      }
      v->desc[2 * n] = (int32_t)off;
      v->desc[2 * n + 1] = (int32_t)r;
      n++;
      /* Keep each frame 8-byte aligned in the area. */
      off += ((size_t)r + 7) & ~(size_t)7;
    }
  }
  if (err != 0 && v->polling) {
    /* A dead device stays "readable" forever: stop polling, report once. */
    uv_poll_stop(&v->poll);
    v->polling = 0;
  }
  if (n > 0 || err != 0) vif_upcall(v, n, err);
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static vif_t *get_vif(napi_env env, napi_value h) {
  napi_valuetype t;
  void *data = NULL;
  if (napi_typeof(env, h, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, h, &data) != napi_ok || data == NULL) return NULL;
  if (((vif_t *)data)->magic != VIF_MAGIC) return NULL;
  return (vif_t *)data;
}

static napi_value mk_int(napi_env env, int64_t x) {
  napi_value v;
  napi_create_int64(env, x, &v);
  return v;
}

static napi_value mk_str(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

/* [errno, handle | null, device name or the step that failed]. */
static napi_value open_result(napi_env env, int err, napi_value handle, const char *what) {
  napi_value arr, nul;
  napi_create_array_with_length(env, 3, &arr);
  napi_get_null(env, &nul);
  napi_set_element(env, arr, 0, mk_int(env, err));
  napi_set_element(env, arr, 1, handle != NULL ? handle : nul);
  napi_set_element(env, arr, 2, mk_str(env, what));
  return arr;
}

/*
 * open(name, rx: Uint8Array, desc: Int32Array, onrx: (n, errno) => void)
 *   -> [0, handle, actual name] or [errno, null, failed step].
 * rx receives frames (at least VIF_READ_MAX bytes); desc gets (offset,
 * length) pairs, one per frame, so at most desc.length / 2 per batch.
 * Receiving starts with start().
 */
static napi_value vif_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char name[IFNAMSIZ];
  size_t namelen = 0;
  napi_typedarray_type rxt, dt;
  size_t rxlen, dlen, off;
  void *rxdata, *ddata;
  napi_value ab, fnv, handle, resname;
  napi_valuetype ft;
  uv_loop_t *loop;
  vif_t *v;
  int fd;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return throw_type(env, "open(name, rx, desc, onrx)");
  if (napi_get_value_string_utf8(env, argv[0], name, sizeof(name), &namelen) != napi_ok) return throw_type(env, "open: name must be a string");
  if (napi_get_typedarray_info(env, argv[1], &rxt, &rxlen, &rxdata, &ab, &off) != napi_ok || rxt != napi_uint8_array || rxlen < VIF_READ_MAX)
    return throw_type(env, "open: rx must be a Uint8Array of at least 65664 bytes");
  if (napi_get_typedarray_info(env, argv[2], &dt, &dlen, &ddata, &ab, &off) != napi_ok || dt != napi_int32_array || dlen < 2)
    return throw_type(env, "open: desc must be an Int32Array of at least 2 elements");
  if (napi_typeof(env, argv[3], &ft) != napi_ok || ft != napi_function) return throw_type(env, "open: onrx must be a function");

#ifndef __linux__
  (void)fd;
  (void)v;
  (void)loop;
  (void)handle;
  (void)resname;
  (void)fnv;
  return open_result(env, EOPNOTSUPP, NULL, "TAP devices through /dev/net/tun exist only on Linux");
#else
  {
    struct ifreq ifr;
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return open_result(env, errno, NULL, "open /dev/net/tun");
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, namelen < IFNAMSIZ ? namelen : IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      int e = errno;
      close(fd);
      return open_result(env, e, NULL, "ioctl TUNSETIFF");
    }
    memcpy(name, ifr.ifr_name, IFNAMSIZ);
    name[IFNAMSIZ - 1] = '\0';
  }
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    close(fd);
    return open_result(env, EIO, NULL, "no event loop");
  }
  v = (vif_t *)calloc(1, sizeof(*v));
  if (v == NULL) {
    close(fd);
    return open_result(env, ENOMEM, NULL, "calloc");
  }
  v->magic = VIF_MAGIC;
  v->env = env;
  v->fd = fd;
  v->rxbuf = (uint8_t *)rxdata;
  v->rxcap = rxlen;
  v->desc = (int32_t *)ddata;
  v->maxframes = dlen / 2;
  memcpy(v->name, name, IFNAMSIZ);
  if (uv_poll_init(loop, &v->poll, fd) != 0) {
    close(fd);
    free(v);
    return open_result(env, EIO, NULL, "uv_poll_init");
  }
  v->poll.data = v;
  napi_create_reference(env, argv[1], 1, &v->rxref);
  napi_create_reference(env, argv[2], 1, &v->descref);
  napi_create_reference(env, argv[3], 1, &v->onrx);
  resname = mk_str(env, "virtif");
  napi_async_init(env, NULL, resname, &v->actx);
  napi_add_env_cleanup_hook(env, vif_cleanup_hook, v);
  if (napi_create_external(env, v, vif_finalize, NULL, &handle) != napi_ok) {
    vif_do_close(v);
    v->finalized = 1;
    return open_result(env, ENOMEM, NULL, "napi_create_external");
  }
  (void)fnv;
  return open_result(env, 0, handle, name);
#endif
}

/* start(h) / stop(h): receive or not (stop also lets the loop exit). */
static napi_value vif_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  vif_t *v;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  v = argc == 1 ? get_vif(env, argv[0]) : NULL;
  if (v == NULL) return throw_type(env, "start(handle)");
  if (v->closing) return mk_int(env, EBADF);
  if (!v->polling) {
    int r = uv_poll_start(&v->poll, UV_READABLE, vif_on_readable);
    if (r != 0) return mk_int(env, -r);
    v->polling = 1;
  }
  return mk_int(env, 0);
}

static napi_value vif_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  vif_t *v;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  v = argc == 1 ? get_vif(env, argv[0]) : NULL;
  if (v == NULL) return throw_type(env, "stop(handle)");
  if (v->polling) uv_poll_stop(&v->poll);
  v->polling = 0;
  return mk_int(env, 0);
}

/*
 * send(h, n, buf0, off0, len0, ...): write one frame made of n (1..4)
 * segments with writev.  Returns the bytes written or -errno.
 */
static napi_value vif_send(napi_env env, napi_callback_info info) {
  size_t argc = 2 + 3 * VIF_IOV_MAX;
  napi_value argv[2 + 3 * VIF_IOV_MAX];
  struct iovec iov[VIF_IOV_MAX];
  int32_t n, i;
  vif_t *v;
  ssize_t r;

  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  v = argc >= 2 ? get_vif(env, argv[0]) : NULL;
  if (v == NULL) return throw_type(env, "send(handle, n, buf, off, len, ...)");
  if (napi_get_value_int32(env, argv[1], &n) != napi_ok || n < 1 || n > VIF_IOV_MAX || argc < (size_t)(2 + 3 * n))
    return throw_type(env, "send: n must be 1..4 with a (buf, off, len) triple each");
  for (i = 0; i < n; i++) {
    napi_typedarray_type t;
    size_t len, boff;
    void *data;
    napi_value ab;
    int32_t o, l;
    if (napi_get_typedarray_info(env, argv[2 + 3 * i], &t, &len, &data, &ab, &boff) != napi_ok || t != napi_uint8_array ||
        napi_get_value_int32(env, argv[3 + 3 * i], &o) != napi_ok || napi_get_value_int32(env, argv[4 + 3 * i], &l) != napi_ok ||
        o < 0 || l < 0 || (size_t)o + (size_t)l > len)
      return throw_type(env, "send: a segment is not a Uint8Array range");
    iov[i].iov_base = (uint8_t *)data + o;
    iov[i].iov_len = (size_t)l;
  }
  if (v->fd < 0) return mk_int(env, -EBADF);
  do r = writev(v->fd, iov, n);
  while (r < 0 && errno == EINTR);
  return mk_int(env, r < 0 ? -errno : r);
}

static napi_value vif_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  vif_t *v;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  v = argc == 1 ? get_vif(env, argv[0]) : NULL;
  if (v == NULL) return throw_type(env, "close(handle)");
  vif_do_close(v);
  return mk_int(env, 0);
}

/* strerror(errno) of the host, for messages. */
static napi_value vif_strerror(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t e = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_int32(env, argv[0], &e) != napi_ok) return throw_type(env, "strerror(errno)");
  return mk_str(env, strerror(e));
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, vif_open, NULL, NULL, NULL, napi_default, NULL},
    {"start", NULL, vif_start, NULL, NULL, NULL, napi_default, NULL},
    {"stop", NULL, vif_stop, NULL, NULL, NULL, napi_default, NULL},
    {"send", NULL, vif_send, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, vif_close, NULL, NULL, NULL, napi_default, NULL},
    {"strerror", NULL, vif_strerror, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value readmax;
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  napi_create_int32(env, VIF_READ_MAX, &readmax);
  napi_set_named_property(env, exports, "READ_MAX", readmax);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
