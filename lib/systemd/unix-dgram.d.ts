// Types for unix-dgram 2.x (the package ships none): the parts spl uses.
declare module 'unix-dgram' {
  import { EventEmitter } from 'node:events';

  export interface UnixDgramSocket extends EventEmitter {
    /** Synchronous sendmsg(2); errors arrive through the callback before send returns. */
    send(buf: Buffer, offset: number, length: number, path: string, callback?: (err?: Error & { code?: number | string }) => void): void;
    bind(path: string): void;
    close(): void;
    on(event: 'message', listener: (msg: Buffer, rinfo: { size: number; path?: string }) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  export function createSocket(type: 'unix_dgram', listener?: (msg: Buffer) => void): UnixDgramSocket;
  const _default: { createSocket: typeof createSocket };
  export default _default;
}
