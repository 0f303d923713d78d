// One datagram to a unix socket in Linux's abstract namespace, for sd_notify when NOTIFY_SOCKET is "@name".
//
// unix-dgram (the binding spl uses for every socket with a path) passes sizeof(struct sockaddr_un) as the
// address length, and an abstract address is exactly offsetof(sun_path) + 1 + strlen(name) bytes long: a
// longer one names a different socket (the name padded with NULs). This sends with the exact length, from
// the calling process itself, so systemd's NotifyAccess=main sees the main process as the sender.

#include <errno.h>
#include <node_api.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

// send(name: Buffer, payload: Buffer): number — 0 on success, else the errno (EINVAL for a bad name).
static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_value result;
  void *name = NULL, *payload = NULL;
  size_t name_len = 0, payload_len = 0;
  int err = 0;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_buffer_info(env, argv[0], &name, &name_len) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &payload, &payload_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "send(name: Buffer, payload: Buffer)");
    return NULL;
  }

  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  // sun_path[0] stays NUL: the abstract namespace. The name follows, without a terminator.
  if (name_len == 0 || name_len > sizeof addr.sun_path - 1) {
    err = EINVAL;
  } else {
    memcpy(addr.sun_path + 1, name, name_len);
    socklen_t addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + name_len);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = errno;
    } else {
      ssize_t r;
      do {
        r = sendto(fd, payload, payload_len, MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_len);
      } while (r < 0 && errno == EINTR);
      if (r < 0) err = errno;
      close(fd);
    }
  }
  napi_create_int32(env, err, &result);
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "send", NAPI_AUTO_LENGTH, Send, NULL, &fn);
  napi_set_named_property(env, exports, "send", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
