/**
 * One client connection of the memory service: requests parsed from its socket are queued and
 * run in order (drain), their replies written to its ReplyStream and flushed per batch.
 *
 *   data ─► RequestParser ─► queue ─drain─► dispatch ─► ReplyStream ─flush─► socket
 *
 * What keeps replies in order while work is out: a worker job (the READ/WRITE copies of a batch;
 * the READ bytes are reserved in the stream and sent when the job is back), an asynchronous
 * command (defer: MAP regions, replies held for replication), a reply waiting for reply buffers
 * (hold), and a stall (the worst-case reply of the next command does not fit). While any is out,
 * later commands wait, and nothing is flushed before a job's READ bytes are in. A protocol error
 * is answered after every command before it, then the connection closes.
 */
import type { Socket } from "node:net";
import { copyBytes } from "../util/shared-bytes.js";
import type { Capability } from "./capabilities.js";
import { dispatch, parseCount } from "./commands.js";
import { ReplyStream } from "./reply-buffers.js";
import { encode, ProtocolError, type Reply, RequestParser } from "./resp.js";
import type { Service } from "./server.js";
import type { Job } from "./workers.js";

export class Connection {
  readonly id: number;
  readonly socket: Socket;
  readonly stream: ReplyStream;
  identity = "default";
  authed: boolean;
  proto: 2 | 3 = 2;
  name = "";
  readonly libInfo: Record<string, string> = {};
  /** For CLIENT INFO's age and idle (ms since the epoch). */
  readonly since = Date.now();
  lastActive = this.since;
  /** The last command run, Redis style ("client|info" for a subcommand); CLIENT INFO's cmd. */
  lastCommand = "NULL";
  private readonly svc: Service;
  private readonly parser: RequestParser;
  private queue: Buffer[][] = [];
  private head = 0;
  private stalled = false;
  /** The socket is not read while parsed commands wait (pace). */
  private paused = false;
  private closing = false;
  private quitting = false;
  /** A protocol error, answered after the replies of the commands before it; then the close. */
  private lastWords: string | null = null;
  private gone = false;
  /** Worker job being assembled / out. */
  private job: Job | null = null;
  private jobOut = false;
  /** An asynchronous command (MAP regions) is running: later commands wait for its reply. */
  private asyncOut = false;
  /** A reply waiting for reply buffers (hold), as registered with them; later commands wait for it. */
  private held: (() => boolean) | null = null;
  private readonly resume = () => this.unstall();

  constructor(svc: Service, id: number, socket: Socket) {
    this.svc = svc;
    this.id = id;
    this.socket = socket;
    this.authed = svc.openByDefault;
    const share = Math.max(2, Math.floor(svc.replyBuffers.count / 2));
    this.stream = new ReplyStream(svc.replyBuffers, socket, share);
    this.parser = new RequestParser({
      maxBulk: svc.config.maxBulk,
      maxArgs: svc.config.maxArgs,
      maxInline: svc.config.maxInline,
    });
    this.parser.guarded = !this.authed;
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", () => {});
    socket.on("close", () => this.onClose());
    socket.on("end", () => {
      // Half-close from the client: finish what was asked, then close.
      this.closing = true;
      if (!this.busy()) this.socket.end();
    });
  }

  login(user: string): void {
    this.identity = user;
    this.authed = true;
    this.parser.guarded = false;
  }

  reset(): void {
    this.proto = 2;
    this.name = "";
    this.identity = "default";
    this.authed = this.svc.openByDefault;
    this.parser.guarded = !this.authed;
  }

  /**
   * A CLIENT INFO / CLIENT LIST line with Redis 7's fields that mean something here (clients such
   * as node-redis parse fd, age, idle, db, ... as numbers). No pub/sub, MULTI or WATCH: those are 0
   * or -1 as Redis shows them for a client that uses none.
   */
  describe(): string {
    const s = this.socket;
    const now = Date.now();
    // Node exposes a socket's descriptor only on its internal handle; -1 (Redis's "none") without.
    const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    return (
      `id=${this.id} addr=${hostPort(s.remoteAddress, s.remotePort)} ` +
      `laddr=${hostPort(s.localAddress, s.localPort)} fd=${fd} name=${this.name} ` +
      `age=${Math.floor((now - this.since) / 1000)} idle=${Math.floor((now - this.lastActive) / 1000)} ` +
      `flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 watch=0 cmd=${this.lastCommand} user=${this.identity} ` +
      `redir=-1 resp=${this.proto} lib-name=${this.libInfo["lib-name"] ?? ""} lib-ver=${this.libInfo["lib-ver"] ?? ""}`
    );
  }

  /** Encodes a reply value into the stream; one the reply buffers cannot take now waits for them (hold). */
  reply(value: Reply): undefined {
    if (typeof value === "object" && value !== null && "error" in value) {
      const s = `-${value.error.replace(/[\r\n]/g, " ")}\r\n`;
      if (this.stream.fits(s.length)) this.stream.ascii(s);
      else this.hold(Buffer.from(s, "latin1"));
      return;
    }
    const b = encode(value, this.proto);
    if (this.stream.fits(b.length)) this.stream.bytes(b);
    else this.hold(b);
  }

  /**
   * A reply larger than what the reply buffers have left for this connection: an asynchronous
   * command's, finished after other connections took the slots that were free when it started, or
   * one whose size is known only once it ran (INFO, CLIENT LIST, past the one slot replyBound
   * assumes). It goes out in pieces as slots come back; the commands after it wait, as behind a
   * stall. Writing it at once took slots that were not there: an exception that ended the server.
   */
  private hold(bytes: Buffer): void {
    let at = 0;
    const more = (): boolean => {
      const n = Math.min(bytes.length - at, this.stream.writable());
      this.stream.bytes(bytes, at, n);
      at += n;
      if (at < bytes.length) {
        // What it wrote goes out (its slots come back), unless READs of a job are still unfilled.
        if (n > 0 && !this.unfilled()) this.stream.flush();
        return false;
      }
      this.held = null;
      this.proceed();
      return true;
    };
    this.held = more;
    more();
    this.svc.replyBuffers.wait(more);
  }

  /**
   * The server stops: nothing more is read as a command; those already received are answered,
   * then the connection closes (afterBatch), no reply cut in half.
   */
  shutdown(): void {
    if (this.gone || this.closing) return;
    this.closing = true;
    if (!this.busy()) this.afterBatch();
  }

  closeAfterReply(): void {
    this.closing = true;
    this.quitting = true;
  }

  writeBlock(cap: Capability, offset: number, data: Buffer): void {
    if (this.svc.workers === null) {
      copyBytes(this.svc.pool.view(cap.address + offset, data.length), 0, data);
      this.stream.ascii(`:${data.length}\r\n`);
      return;
    }
    this.jobFor().write(cap, offset, data);
    this.stream.ascii(`:${data.length}\r\n`);
  }

  /**
   * Copies a WRITE's bytes now (its reply is written by the caller), unless READs and WRITEs of
   * this connection wait in the job being assembled: then it is the job's next operation, so a
   * READ before it does not see it (copied at once, it landed before the worker ran that READ).
   */
  writeNow(cap: Capability, offset: number, data: Buffer): void {
    if (this.job !== null && !this.job.empty) this.job.write(cap, offset, data);
    else copyBytes(this.svc.pool.view(cap.address + offset, data.length), 0, data);
  }

  readBlock(cap: Capability, offset: number, length: number): void {
    this.stream.ascii(`$${length}\r\n`);
    if (this.svc.workers === null) {
      this.stream.bytes(this.svc.pool.view(cap.address + offset, length));
    } else {
      this.jobFor().read(cap, offset, this.stream.reserve(length));
    }
    this.stream.ascii("\r\n");
  }

  private jobFor(): Job {
    if (this.job === null) this.job = this.svc.workers!.job();
    return this.job;
  }

  private busy(): boolean {
    return (
      this.jobOut || this.asyncOut || this.held !== null || this.stalled || this.head < this.queue.length
    );
  }

  /** Whether the stream holds READ bytes a worker has yet to copy in (it must not be sent yet). */
  private unfilled(): boolean {
    return this.jobOut || (this.job !== null && !this.job.empty);
  }

  /** An asynchronous step finished: the queued commands run, or the replies go out. */
  private proceed(): void {
    // With a job out, its READ bytes are not in the stream yet: its completion sends and goes on.
    if (this.jobOut) return;
    if (!this.stalled && this.head < this.queue.length) this.drain();
    else this.afterBatch();
  }

  /**
   * Runs an asynchronous command: the replies before it go out, the commands after it wait, and
   * its reply (or its error as a Redis error) takes its place in order.
   */
  defer(work: Promise<Reply>): undefined {
    this.asyncOut = true;
    work
      .then(
        (value) => value,
        (e: unknown) => ({ error: `ERR ${e instanceof Error ? e.message : String(e)}` }) as Reply,
      )
      .then((value) => {
        this.asyncOut = false;
        if (this.gone) {
          if (!this.jobOut) this.stream.detach();
          return;
        }
        this.reply(value);
        if (this.held === null) this.proceed();
      });
    return undefined;
  }

  private onData(chunk: Buffer): void {
    if (this.closing || this.gone) return;
    this.lastActive = Date.now();
    this.parse(chunk);
  }

  /** Feeds a chunk to the parser (an empty one checks a held frame again) and runs what came out. */
  private parse(chunk: Buffer): void {
    try {
      this.parser.feed(chunk, (args) => {
        this.queue.push(args);
        // An AUTH or HELLO may log in: the words after it get the limits of a client that has,
        // until it has run (drain puts them back if it failed).
        if (this.parser.guarded && mayAuthenticate(args[0])) this.parser.guarded = false;
      });
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.svc.counters.protocolErrors++;
      // Commands before the bad frame still run (after a job or an asynchronous command that is
      // out, when it is done); then the error, then the connection closes (afterBatch).
      this.closing = true;
      this.lastWords = e.message;
      this.drain();
      return;
    }
    if (this.queue.length - this.head > this.svc.config.maxPipeline) {
      // The pipeline is refused whole: none of its commands run.
      this.queue = [];
      this.head = 0;
      this.closing = true;
      this.lastWords = `ERR Protocol error: more than ${this.svc.config.maxPipeline} commands pipelined`;
      if (!this.busy()) this.afterBatch();
      return;
    }
    this.drain();
  }

  /** The worst-case reply size of a command before it runs (for backpressure). */
  private replyBound(args: Buffer[]): number {
    const small = this.svc.replyBuffers.slotSize;
    const n = args[0].length;
    if (n === 4 && args.length === 4 && (args[0][0] | 32) === 114 /* r */) {
      const len = parseCount(args[3]);
      return len > 0 ? Math.min(len, this.svc.config.maxBulk) + 32 : small;
    }
    if (args.length === 2 && n === 4 && (args[0][0] | 32) === 101 /* e */) return args[1].length + 32;
    if (args.length === 2 && n === 4 && (args[0][0] | 32) === 112 /* p */) return args[1].length + 32;
    return small;
  }

  /** Runs queued commands while reply buffers allow; flushes; stalls when they do not. */
  private drain(): void {
    this.runQueue();
    this.parser.guarded = !this.authed;
    if (this.parser.recheck && !this.closing) {
      // An AUTH that failed (or a RESET) let the header of the frame still arriving pass: it is
      // checked again now, not once the client has sent all it announced.
      this.parse(NO_BYTES);
      return;
    }
    this.pace();
  }

  /**
   * Reads the socket only while no parsed command waits (behind a job, an asynchronous command, a
   * held reply or a stall), so the queue holds at most what one read brought. Read on, it grew for
   * as long as the client kept sending: redis-cli --pipe of 300,000 WRITEs under appendfsync
   * always (each WRITE waits for the log) passed maxPipeline and had its connection closed.
   */
  private pace(): void {
    const waiting = this.head < this.queue.length;
    if (waiting === this.paused || this.gone) return;
    this.paused = waiting;
    if (waiting) this.socket.pause();
    else if (!this.closing) this.socket.resume();
  }

  private runQueue(): void {
    if (this.jobOut || this.asyncOut || this.held !== null || this.gone) return;
    const q = this.queue;
    while (this.head < q.length) {
      const args = q[this.head];
      // A FREE behind READs/WRITEs of this batch waits for their job, so that it frees the block
      // as it does inline (--workers 0): a later ALLOC of the pipeline gets the memory back.
      if (this.job !== null && !this.job.empty && isFree(args[0])) break;
      if (!this.stream.fits(this.replyBound(args))) {
        this.stall();
        break;
      }
      this.head++;
      this.svc.counters.commands++;
      dispatch(this.svc, this, args);
      if (this.quitting) {
        this.queue = [];
        this.head = 0;
        break;
      }
      if (this.asyncOut || this.held !== null) break;
    }
    if (this.head === q.length && q === this.queue) {
      this.queue = [];
      this.head = 0;
    }
    const job = this.job;
    if (job !== null && !job.empty) {
      this.job = null;
      this.jobOut = true;
      this.svc.counters.workerJobs++;
      this.svc.workers!.submit(job, () => {
        this.jobOut = false;
        this.svc.unpin(job.caps);
        this.afterBatch();
        if (!this.gone && this.head < this.queue.length && !this.stalled) this.drain();
      });
      return;
    }
    this.afterBatch();
  }

  private afterBatch(): void {
    if (this.closing && !this.busy()) {
      const message = this.lastWords;
      this.lastWords = null;
      if (message !== null && this.stream.fits(message.length + 3)) this.stream.ascii(`-${message}\r\n`);
      this.stream.flush();
      this.socket.end();
      // What the client still sends is read and dropped (onData): left unread, it made the close
      // a reset, which can discard replies the client had not read yet.
      this.socket.resume();
      return;
    }
    this.stream.flush();
  }

  private stall(): void {
    if (this.stalled) return;
    this.stalled = true;
    this.svc.replyBuffers.wait(this.resume);
  }

  private unstall(): boolean {
    if (this.gone) return true;
    const args = this.queue[this.head];
    if (args !== undefined && !this.stream.fits(this.replyBound(args))) return false;
    this.stalled = false;
    this.drain();
    // Stalled again on a later command (a second READ as large as the first): it waits on. Done,
    // the reply buffers would drop its registration, which stall() found still there, and nothing
    // would ever wake it again (two pipelined READs of --max-bulk hung the connection).
    return !this.stalled;
  }

  private onClose(): void {
    if (this.gone) return;
    this.gone = true;
    this.queue = [];
    this.head = 0;
    this.svc.replyBuffers.forget(this.resume);
    if (this.held !== null) this.svc.replyBuffers.forget(this.held);
    this.held = null;
    if (!this.jobOut && !this.asyncOut) this.stream.detach();
    this.svc.closed(this);
  }
}

const NO_BYTES = Buffer.alloc(0);

/** An address as Redis writes it: an IPv6 one in brackets ("[::1]:6389"), so its port is plain. */
function hostPort(address: string | undefined, port: number | undefined): string {
  const host = address ?? "?";
  return `${host.includes(":") ? `[${host}]` : host}:${port ?? 0}`;
}

function mayAuthenticate(name: Buffer): boolean {
  const n = name.toString("latin1").toLowerCase();
  return n === "auth" || n === "hello";
}

function isFree(name: Buffer): boolean {
  return name.length === 4 && name.toString("latin1").toLowerCase() === "free";
}
