/**
 * The memory commands: ALLOC, FREE, WRITE, READ, SIZE, MAP, SYNC and STATS. Each validates every
 * argument (numbers, the handle for this identity, the range inside the block, the quotas) before
 * it touches memory, so a refused command changes nothing. The byte copies of READ and WRITE on
 * anonymous blocks go through the connection (inline or on a worker); MAP regions go through the
 * vm layer (maps.ts) and reply when their page-ins are done.
 */
import { InvalidArgumentError, MnemeError, OutOfMemoryError } from "../errors.js";
import { fillBytes } from "../util/shared-bytes.js";
import { HINTS, type Hint } from "../vm/hints.js";
import type { Capability } from "./capabilities.js";
import { BAD_HANDLE, lower, NOT_INTEGER, OUT_OF_RANGE, parseCount } from "./commands.js";
import type { Connection } from "./connection.js";
import { regionBytes } from "./quotas.js";
import { error, OK } from "./resp.js";
import type { Service } from "./server.js";

const EMPTY = Buffer.alloc(0);

function tooLarge(size: number): string {
  return `OOM ALLOC of ${size} bytes is larger than the pool`;
}

/** The capability the handle argument names for this connection's identity, or undefined. */
function capOf(svc: Service, conn: Connection, b: Buffer): Capability | undefined {
  if (b.length > 80) return undefined;
  return svc.caps.lookup(b.toString("latin1"), conn.identity);
}

export function alloc(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const size = parseCount(args[1]);
  if (size < 0) return conn.reply(error(NOT_INTEGER));
  if (size === 0) return conn.reply(error("ERR size must be at least 1 byte"));
  let align = 0;
  if (args.length === 4 && lower(args[2]) === "align") {
    align = parseCount(args[3]);
    if (align < 0) return conn.reply(error(NOT_INTEGER));
    if (align === 0 || (align & (align - 1)) !== 0 || align > svc.pool.pageSize * 1024) {
      return conn.reply(error("ERR ALIGN must be a power of two up to 1024 pages"));
    }
  } else if (args.length !== 2) return conn.reply(error("ERR syntax error"));
  // Only the pool bounds a block: one larger than a bulk string is written and read in pieces.
  if (size > svc.config.memory) return conn.reply(error(tooLarge(size)));
  const refused = svc.quotas.refuse(conn.identity, size);
  if (refused !== null) return conn.reply(error(refused));
  let address: number;
  try {
    address = align > 0 ? svc.pool.heap.alignedAlloc(align, size) : svc.pool.heap.malloc(size);
  } catch (e) {
    if (e instanceof OutOfMemoryError) return conn.reply(error(`OOM ${e.message}`));
    // Up to the pool's size but past what its header leaves: as large as the pool for the client.
    if (e instanceof InvalidArgumentError && e.argument === "size") return conn.reply(error(tooLarge(size)));
    if (e instanceof InvalidArgumentError) return conn.reply(error(`ERR ${e.message}`));
    throw e;
  }
  const charged = svc.pool.heap.usableSize(address);
  const refusedCharged = svc.quotas.refuse(conn.identity, charged);
  if (refusedCharged !== null) {
    svc.pool.heap.free(address);
    return conn.reply(error(refusedCharged));
  }
  // Zeroed before the new owner sees it: nobody ever reads another's old data.
  fillBytes(svc.pool.view(address, charged), 0);
  svc.quotas.charge(conn.identity, charged);
  const cap = svc.caps.grant(address, size, charged, conn.identity, "anon", conn.id);
  svc.counters.allocs++;
  const rep = svc.replication;
  rep?.logAlloc(cap, align);
  const wait = rep?.hold();
  if (wait) return conn.defer(wait.then(() => cap.handle));
  conn.stream.ascii(`$${cap.handle.length}\r\n${cap.handle}\r\n`);
}

export function free(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const cap = capOf(svc, conn, args[1]);
  if (cap === undefined) return conn.reply(error(BAD_HANDLE));
  // A region's reply waits for its unmap (a MAP of the same file after it sees its last bytes),
  // and is an error, the handle still valid, when its writeback failed (Service.releaseRegion).
  if (cap.kind === "map") {
    const unmapped = svc.release(cap).then(() => {
      svc.counters.frees++;
      return svc.replication?.hold();
    });
    return conn.defer(unmapped.then(() => OK));
  }
  void svc.release(cap);
  svc.counters.frees++;
  const wait = svc.replication?.hold();
  if (wait) return conn.defer(wait.then(() => OK));
  conn.stream.ascii("+OK\r\n");
}

export function write(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const cap = capOf(svc, conn, args[1]);
  if (cap === undefined) return conn.reply(error(BAD_HANDLE));
  const offset = parseCount(args[2]);
  if (offset < 0) return conn.reply(error(NOT_INTEGER));
  const data = args[3];
  if (offset + data.length > cap.size) return conn.reply(error(OUT_OF_RANGE));
  svc.counters.writes++;
  svc.counters.bytesWritten += data.length;
  const rep = svc.replication;
  if (cap.kind === "map") {
    // Nothing to write, as for a block (the vm layer refuses empty writes).
    if (data.length === 0) return conn.reply(0);
    // A copy: the request buffer may be reused before the page-in completes.
    const copy = Uint8Array.from(data);
    const done = svc.maps.write(cap.address, offset, copy).then(() => {
      rep?.wrote(cap, offset, copy.length);
      return rep?.hold() ?? undefined;
    });
    return conn.defer(done.then(() => copy.length));
  }
  const wait = rep?.hold();
  if (rep && wait) {
    // `always`, or a backlog to drain: the copy is done here (not on a worker) so the batch can
    // carry it at once, and the reply waits. Behind a job's READs it goes with the job (the
    // replicator takes the pages once the job unpins the block).
    conn.writeNow(cap, offset, data);
    rep.wrote(cap, offset, data.length);
    return conn.defer(wait.then(() => data.length));
  }
  conn.writeBlock(cap, offset, data);
  rep?.wrote(cap, offset, data.length);
}

export function read(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const cap = capOf(svc, conn, args[1]);
  if (cap === undefined) return conn.reply(error(BAD_HANDLE));
  const offset = parseCount(args[2]);
  const length = parseCount(args[3]);
  if (offset < 0 || length < 0) return conn.reply(error(NOT_INTEGER));
  if (offset + length > cap.size) return conn.reply(error(OUT_OF_RANGE));
  if (length > svc.config.maxBulk)
    return conn.reply(
      error(`ERR READ length above the limit of ${svc.config.maxBulk} bytes; read in pieces`),
    );
  svc.counters.reads++;
  svc.counters.bytesRead += length;
  if (cap.kind === "map") {
    // Nothing to read, as for a block (the vm layer refuses empty reads).
    if (length === 0) return conn.reply(EMPTY);
    return conn.defer(
      svc.maps.read(cap.address, offset, length).then((b) => Buffer.from(b.buffer, b.byteOffset, b.length)),
    );
  }
  conn.readBlock(cap, offset, length);
}

export function sizeCmd(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const cap = capOf(svc, conn, args[1]);
  if (cap === undefined) return conn.reply(error(BAD_HANDLE));
  conn.reply(cap.size);
}

export function map(svc: Service, conn: Connection, args: Buffer[]): undefined {
  const length = parseCount(args[1]);
  if (length < 0) return conn.reply(error(NOT_INTEGER));
  if (length === 0) return conn.reply(error("ERR MAP length must be positive"));
  let kind: "anon" | "file" = "anon";
  let name: string | null = null;
  let hint: Hint | undefined;
  for (let i = 2; i < args.length; i += 2) {
    const opt = lower(args[i]);
    if ((opt !== "store" && opt !== "hint") || i + 1 >= args.length)
      return conn.reply(error("ERR syntax error"));
    if (opt === "store") {
      const k = lower(args[i + 1]);
      if (k === "file") {
        if (i + 2 >= args.length) return conn.reply(error("ERR syntax error"));
        kind = "file";
        name = args[i + 2].toString();
        i++;
      } else if (k !== "anon") return conn.reply(error("ERR STORE must be anon or file NAME"));
    } else {
      // In any case, like the command's other words (readonce is readOnce).
      const h = lower(args[i + 1]);
      hint = HINTS.find((name) => name.toLowerCase() === h);
      if (hint === undefined) return conn.reply(error(`ERR HINT must be one of ${HINTS.join(", ")}`));
    }
  }
  const bytes = regionBytes(length);
  const refused = svc.quotas.refuse(conn.identity, bytes);
  if (refused !== null) return conn.reply(error(refused));
  let v: number;
  try {
    v = svc.maps.map(length, kind, name, hint, conn.identity);
  } catch (e) {
    if (e instanceof MnemeError) return conn.reply(error(`ERR ${e.message}`));
    throw e;
  }
  svc.quotas.charge(conn.identity, bytes);
  const cap = svc.caps.grant(v, length, bytes, conn.identity, "map", conn.id);
  const rep = svc.replication;
  rep?.logMap(cap, { store: kind, name: name ?? "", hint: hint ?? "", written: new Set() });
  const wait = rep?.hold();
  if (wait) return conn.defer(wait.then(() => cap.handle));
  conn.stream.ascii(`$${cap.handle.length}\r\n${cap.handle}\r\n`);
}

/**
 * SYNC: the dirty pages of the identity's MAP regions go to their files, and with replication the
 * partial batch is cut and everything logged before this command is durable before the reply.
 */
export function syncCmd(svc: Service, conn: Connection): undefined {
  const rep = svc.replication;
  if (svc.maps.count === 0 && rep === null) return conn.reply(OK);
  const maps = svc.maps.count > 0 ? svc.maps.syncOwner(conn.identity) : Promise.resolve();
  conn.defer(maps.then(() => rep?.sync()).then(() => OK));
}

export function stats(svc: Service, conn: Connection): undefined {
  const s = svc.pool.stats();
  const r = svc.replyBuffers.stats();
  const u = svc.quotas.of(conn.identity);
  conn.reply({
    map: [
      ["total", s.total],
      ["free", s.free],
      ["contiguous", s.contiguous],
      ["segments", s.segments],
      ["handles", svc.caps.size],
      ["identity_bytes", u.bytes],
      ["identity_handles", u.handles],
      ["allocs", svc.counters.allocs],
      ["frees", svc.counters.frees],
      ["reads", svc.counters.reads],
      ["writes", svc.counters.writes],
      ["reply_buffers", r.replyBuffers],
      ["reply_buffers_in_use", r.replyBuffersInUse],
      ["reply_buffer_waits", r.replyBufferWaits],
      ["workers", svc.config.workers],
      ["pollers", svc.config.pollers],
    ],
  });
}
