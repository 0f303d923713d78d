// Unix datagram senders for the systemd edge: sd_notify and the journald native protocol both send through one.
//
// Node has no unix datagram sockets: a socket with a path goes through unix-dgram; one in the abstract namespace
// ("@name") through native/abstract_dgram.c, because unix-dgram always passes a full-length sockaddr_un, which
// addresses a different abstract name. Either way the datagram leaves this process itself, so a receiver that
// checks the sender's pid (systemd's NotifyAccess=main) sees the main process.

import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import type { UnixDgramSocket } from 'unix-dgram';

const require = createRequire(import.meta.url);

/** Sends one datagram to a fixed address; returns the error, if any, synchronously. */
export interface DatagramSender {
  send(buf: Buffer): Error | undefined;
  close(): void;
}

/** An address that names no socket: the configuration is wrong, not the system, so callers word it apart. */
export class DatagramAddressError extends Error {}

/**
 * The sender for `address`: an absolute socket path (`/run/systemd/notify`) or an abstract name (`@name`, as
 * sd_notify(3) accepts). Throws a DatagramAddressError for anything else, and the loader's error when the
 * binding for that form cannot be loaded.
 */
export function datagramSender(address: string): DatagramSender {
  if (address.startsWith('/')) return pathSender(address);
  if (address === '@') throw new DatagramAddressError(`${address} names no socket`);
  if (address.startsWith('@')) return abstractSender(address.slice(1));
  throw new DatagramAddressError(`${address} is neither an absolute path nor an abstract name (@name)`);
}

function pathSender(path: string): DatagramSender {
  const unix = require('unix-dgram') as typeof import('unix-dgram');
  let sock: UnixDgramSocket | undefined = unix.createSocket('unix_dgram');
  // Send errors come back through send()'s callback; this only guards against an unhandled 'error' event.
  sock.on('error', () => undefined);
  return {
    send(buf) {
      // unix-dgram's send is a synchronous sendmsg(2): the callback runs before send returns.
      let error: Error | undefined = sock ? undefined : new Error('socket closed');
      sock?.send(buf, 0, buf.length, path, (err) => {
        if (err) error = err;
      });
      return error;
    },
    close() {
      try {
        sock?.close();
      } catch {
        // already closed
      }
      sock = undefined;
    },
  };
}

/** The native sender for "@name": build/Release/abstract_dgram.node, built by node-gyp with the package. */
function abstractSender(name: string): DatagramSender {
  const native = require('../../build/Release/abstract_dgram.node') as { send(name: Buffer, payload: Buffer): number };
  const nameBuf = Buffer.from(name, 'utf8');
  return {
    send(buf) {
      const errno = native.send(nameBuf, buf);
      return errno === 0 ? undefined : Object.assign(new Error(`sendto @${name}: ${errnoName(errno)}`), { errno });
    },
    close() {},
  };
}

function errnoName(errno: number): string {
  const entry = Object.entries(osConstants.errno).find(([, v]) => v === errno);
  return entry ? entry[0] : `errno ${errno}`;
}
