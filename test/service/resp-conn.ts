/**
 * A bare RESP connection for tests that need what a client library hides: pipelines written in
 * arbitrary pieces, a malformed frame after good ones, a socket closed before its replies are read,
 * reading paused while the server keeps answering. Replies come out in order through `next()`,
 * parsed by redis-parser (bulk and simple strings as Buffers, errors as Error values, not thrown).
 */
import { connect, type Socket } from "node:net";
import RedisParser from "redis-parser";

export type RespReply = Buffer | number | null | Error | RespReply[];

export class RespConn {
  private readonly replies: RespReply[] = [];
  private readonly waiting: ((r: RespReply | undefined) => void)[] = [];
  private ended = false;
  /** Resolves when the server (or we) closed the connection. */
  readonly closed: Promise<void>;

  private constructor(readonly socket: Socket) {
    const parser = new RedisParser({
      returnBuffers: true,
      returnReply: (r: RespReply) => this.push(r),
      returnError: (e: Error) => this.push(e),
    });
    socket.on("data", (d) => parser.execute(d));
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.ended = true;
        for (const w of this.waiting.splice(0)) w(undefined);
        resolve();
      }),
    );
  }

  static open(port: number): Promise<RespConn> {
    return new Promise((resolve, reject) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => resolve(new RespConn(s)));
      s.once("error", reject);
    });
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The next reply; undefined once the connection closed with no reply left. */
  next(): Promise<RespReply | undefined> {
    const r = this.replies.shift();
    if (r !== undefined) return Promise.resolve(r);
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private push(r: RespReply): void {
    const w = this.waiting.shift();
    if (w !== undefined) w(r);
    else this.replies.push(r);
  }
}
