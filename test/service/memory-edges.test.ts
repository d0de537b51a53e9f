/**
 * The memory commands at their edges, against a real `mneme serve` process with a small bulk
 * limit: odd sizes and alignments, the last byte, zero-length reads and writes, numbers with any
 * number of leading zeros or too many digits, blocks larger than a bulk string, pipelines mixing
 * errors and successes, the inline protocol with quoted binary, zeroing of reused memory.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { frame, raw, type ServerProcess, spawnServer } from "./helpers.js";

const NOT_INTEGER = "ERR value is not an integer or out of range";
const OUT_OF_RANGE = "ERR offset or length out of range";
const MAX_BULK = 1024;

const addressOf = (h: string) => Number.parseInt(h.split(".")[0], 16);

// READ and WRITE copies inline on the I/O thread, and on worker threads.
for (const workers of [0, 2]) {
  describe(`--workers ${workers}`, () => {
    let server: ServerProcess;
    let r: Redis;

    beforeAll(async () => {
      server = await spawnServer([
        "--max-bulk",
        "1kb",
        "--reply-buffers",
        "64",
        "--reply-buffer-size",
        "1kb",
        "--workers",
        String(workers),
      ]);
      r = new Redis({ port: server.port, maxRetriesPerRequest: 0 });
    });

    afterAll(async () => {
      r.disconnect();
      await server.stop();
    });

    describe("sizes, offsets and lengths", () => {
      it("odd sizes: the last byte is writable and readable, one past it is refused, zero-length at the end is fine", async () => {
        for (const size of [1, 3, 7, 63, 65, 1000, 4095, 4097, 12_289, 65_537]) {
          const h = String(await r.call("ALLOC", size));
          expect(await r.call("SIZE", h)).toBe(size);
          expect(await r.call("WRITE", h, size - 1, "Z")).toBe(1);
          expect(await r.call("READ", h, size - 1, 1)).toBe("Z");
          expect(await r.call("WRITE", h, size, "")).toBe(0);
          expect(await r.call("READ", h, size, 0)).toBe("");
          expect(await r.call("READ", h, 0, 0)).toBe("");
          await expect(r.call("WRITE", h, size, "x")).rejects.toThrow(OUT_OF_RANGE);
          await expect(r.call("WRITE", h, size + 1, "")).rejects.toThrow(OUT_OF_RANGE);
          await expect(r.call("READ", h, size + 1, 0)).rejects.toThrow(OUT_OF_RANGE);
          await expect(r.call("READ", h, size - 1, 2)).rejects.toThrow(OUT_OF_RANGE);
          await expect(r.call("READ", h, 0, 999_999_999_999_999)).rejects.toThrow(OUT_OF_RANGE);
          await expect(r.call("WRITE", h, 999_999_999_999_999, "x")).rejects.toThrow(OUT_OF_RANGE);
          // The refused ones changed nothing.
          expect(await r.call("READ", h, size - 1, 1)).toBe("Z");
          expect(await r.call("FREE", h)).toBe("OK");
        }
      });

      it("every power-of-two alignment up to 1024 pages, with odd sizes; others are refused", async () => {
        for (let align = 1; align <= 4096 * 1024; align *= 2) {
          for (const size of [1, align + 1, 3 * align - 1]) {
            if (size > 8 * 1024 * 1024) continue;
            const h = String(await r.call("ALLOC", size, align % 3 === 0 ? "align" : "ALIGN", align));
            expect(addressOf(h) % align, `align ${align} size ${size}`).toBe(0);
            expect(await r.call("WRITE", h, size - 1, "e")).toBe(1);
            expect(await r.call("FREE", h)).toBe("OK");
          }
        }
        for (const bad of [0, 3, 6, 4096 * 1024 * 2, 12_288]) {
          await expect(r.call("ALLOC", 10, "ALIGN", bad)).rejects.toThrow(
            "ERR ALIGN must be a power of two up to 1024 pages",
          );
        }
        await expect(r.call("ALLOC", 10, "ALIGN", "-8")).rejects.toThrow(NOT_INTEGER);
        await expect(r.call("ALLOC", 10, "ALIGN")).rejects.toThrow("ERR syntax error");
        await expect(r.call("ALLOC", 10, "ALIGN", 8, 8)).rejects.toThrow("ERR syntax error");
        await expect(r.call("ALLOC", 10, "ALIGNMENT", 8)).rejects.toThrow("ERR syntax error");
      });

      it("a block larger than 64 bulk strings is allocated, written and read in pieces", async () => {
        // ALLOC refused any block above 64 x --max-bulk as "larger than the pool" though the pool had room.
        const size = 64 * MAX_BULK + 1;
        const h = String(await r.call("ALLOC", size));
        for (let at = 0; at < size; at += MAX_BULK) {
          const n = Math.min(MAX_BULK, size - at);
          expect(await r.callBuffer("WRITE", h, at, Buffer.alloc(n, (at / MAX_BULK) & 0xff))).toBe(n);
        }
        for (let at = 0; at < size; at += MAX_BULK) {
          const n = Math.min(MAX_BULK, size - at);
          expect((await r.callBuffer("READ", h, at, n)) as Buffer).toEqual(
            Buffer.alloc(n, (at / MAX_BULK) & 0xff),
          );
        }
        await expect(r.call("READ", h, 0, MAX_BULK + 1)).rejects.toThrow(
          `ERR READ length above the limit of ${MAX_BULK} bytes; read in pieces`,
        );
        expect(await r.call("FREE", h)).toBe("OK");
        await expect(r.call("ALLOC", 33 * 1024 * 1024)).rejects.toThrow(
          /^OOM ALLOC of 34603008 bytes is larger than the pool/,
        );
        // The pool's size itself, more than its header leaves, was the heap's 'ERR invalid size'.
        await expect(r.call("ALLOC", 32 * 1024 * 1024)).rejects.toThrow(
          /^OOM ALLOC of 33554432 bytes is larger than the pool/,
        );
      });
    });

    describe("numbers", () => {
      it("any number of leading zeros is accepted (redis-benchmark pads), up to 15 significant digits", async () => {
        const h = String(await r.call("ALLOC", `${"0".repeat(40)}100`));
        expect(await r.call("SIZE", h)).toBe(100);
        expect(await r.call("WRITE", h, `${"0".repeat(21)}99`, "q")).toBe(1);
        expect(await r.call("READ", h, "0000000000000000000000000000099", "00000000000000000001")).toBe("q");
        expect(await r.call("READ", h, "0", "0000000000000000")).toBe("");
        await expect(r.call("READ", h, "1000000000000000", 0)).rejects.toThrow(NOT_INTEGER);
        for (const bad of ["", " 1", "1 ", "+1", "-1", "1e2", "0x10", "1.0", "١", "99999999999999999999"]) {
          await expect(r.call("READ", h, bad, 0), JSON.stringify(bad)).rejects.toThrow(NOT_INTEGER);
          await expect(r.call("ALLOC", bad), JSON.stringify(bad)).rejects.toThrow(NOT_INTEGER);
        }
        expect(await r.call("FREE", h)).toBe("OK");
      });
    });

    describe("pipelines mixing errors and successes", () => {
      it("one write of many frames: every reply in order, the errors change nothing", async () => {
        const h = String(await r.call("ALLOC", 10));
        const frames = [
          frame("WRITE", h, "0", "0123456789"),
          frame("WRITE", h, "5", "toolong"),
          frame("READ", h, "0", "10"),
          frame("NOSUCH", "a"),
          frame("FREE", "ffff.0"),
          frame("SIZE", h),
          frame("READ", h, "x", "1"),
          frame("WRITE", h, "9", ""),
          frame("ALLOC", "0"),
          frame("ping"),
          frame("ECHO", Buffer.from([0, 13, 10, 255])),
          frame("READ", h, "9", "1"),
        ];
        const got = await raw(server.port, frames, (t) => t.endsWith("$1\r\n9\r\n"));
        expect(got.text).toBe(
          ":10\r\n" +
            `-${OUT_OF_RANGE}\r\n` +
            "$10\r\n0123456789\r\n" +
            "-ERR unknown command 'NOSUCH', with args beginning with: 'a' \r\n" +
            "-ERR invalid handle (unknown, freed, or held by another identity)\r\n" +
            ":10\r\n" +
            `-${NOT_INTEGER}\r\n` +
            ":0\r\n" +
            "-ERR size must be at least 1 byte\r\n" +
            "+PONG\r\n" +
            "$4\r\n\u0000\r\n\u00ff\r\n" +
            "$1\r\n9\r\n",
        );
        expect(await r.call("FREE", h)).toBe("OK");
      });

      it("a bulk string over --max-bulk: the commands before it are answered, then the error, then the close; nothing written", async () => {
        const h = String(await r.call("ALLOC", 2 * MAX_BULK));
        const got = await raw(server.port, [
          frame("WRITE", h, "0", "before"),
          frame("WRITE", h, "0", Buffer.alloc(MAX_BULK + 1, 120)),
          frame("WRITE", h, "0", "after!"),
        ]);
        expect(got).toEqual({ text: ":6\r\n-ERR Protocol error: invalid bulk length\r\n", closed: true });
        expect(await r.call("READ", h, 0, 7)).toBe("before\u0000");
        expect(await r.call("FREE", h)).toBe("OK");
      });
    });

    describe("the inline protocol", () => {
      it("lower-case names, quoted binary with escapes, single quotes; replies like multibulk's", async () => {
        const h = String(await r.call("ALLOC", 8));
        const got = await raw(
          server.port,
          `write ${h} 0 "a\\x00b\\r\\n"\r\nReAd ${h} 0 5\r\nwrite ${h} 5 'x y'\r\nsize ${h}\r\n\r\nread ${h} 5 3\r\n`,
          (t) => t.endsWith("x y\r\n"),
        );
        expect(got.text).toBe(":5\r\n$5\r\na\u0000b\r\n\r\n:3\r\n:8\r\n$3\r\nx y\r\n");
        const bad = await raw(server.port, `size ${h}\r\nwrite ${h} 0 "open\r\nsize ${h}\r\n`);
        expect(bad).toEqual({
          text: ":8\r\n-ERR Protocol error: unbalanced quotes in request\r\n",
          closed: true,
        });
        expect(await r.call("FREE", h)).toBe("OK");
      });
    });

    describe("zeroing", () => {
      it("memory freed dirty and allocated again, in every size class touched, reads as zeros", async () => {
        for (const size of [1, 24, 100, 1000, 3000, 5000, 70_000]) {
          const dirty: string[] = [];
          for (let i = 0; i < 8; i++) {
            const h = String(await r.call("ALLOC", size));
            for (let at = 0; at < size; at += MAX_BULK)
              await r.callBuffer("WRITE", h, at, Buffer.alloc(Math.min(MAX_BULK, size - at), 0xff));
            dirty.push(h);
          }
          for (const h of dirty) expect(await r.call("FREE", h)).toBe("OK");
          for (let i = 0; i < 8; i++) {
            const h = String(await r.call("ALLOC", size));
            for (let at = 0; at < size; at += MAX_BULK) {
              const got = (await r.callBuffer("READ", h, at, Math.min(MAX_BULK, size - at))) as Buffer;
              expect(
                got.every((b) => b === 0),
                `size ${size} at ${at}`,
              ).toBe(true);
            }
            expect(await r.call("FREE", h)).toBe("OK");
          }
        }
      });
    });

    describe("MAP regions at their edges", () => {
      it("zero-length READ and WRITE answer as for a block (they were the vm layer's 'invalid length 0')", async () => {
        const m = String(await r.call("MAP", 3 * 4096 + 5));
        const a = String(await r.call("ALLOC", 3 * 4096 + 5));
        for (const h of [m, a]) {
          expect(await r.call("READ", h, 0, 0)).toBe("");
          expect(await r.call("READ", h, 3 * 4096 + 5, "000")).toBe("");
          expect(await r.call("WRITE", h, 3 * 4096 + 5, "")).toBe(0);
          expect(await r.call("WRITE", h, 0, "")).toBe(0);
          expect(await r.call("WRITE", h, 3 * 4096 + 4, "L")).toBe(1);
          expect(await r.call("READ", h, 3 * 4096 + 3, 2)).toBe("\u0000L");
          await expect(r.call("READ", h, 3 * 4096 + 6, 0)).rejects.toThrow(OUT_OF_RANGE);
          await expect(r.call("WRITE", h, 3 * 4096 + 4, "LL")).rejects.toThrow(OUT_OF_RANGE);
          expect(await r.call("FREE", h)).toBe("OK");
        }
      });

      it("HINT values in any case, like the other words; file names of 128 characters but not 129, nor . or ..", async () => {
        const made: string[] = [];
        for (const hint of ["readonce", "READONCE", "readOnce", "Sequential", "WILLNEED"])
          made.push(String(await r.call("map", 4096, "hint", hint)));
        await expect(r.call("MAP", 4096, "HINT", "read-once")).rejects.toThrow(
          /^ERR HINT must be one of normal, /,
        );
        made.push(String(await r.call("MAP", 4096, "store", "FILE", "n".repeat(128))));
        for (const bad of ["n".repeat(129), ".", "..", "a/b", "@x", ""])
          await expect(r.call("MAP", 4096, "STORE", "file", bad), bad).rejects.toThrow(
            /^ERR invalid name .*1-128 characters/,
          );
        await expect(r.call("MAP", 4096, "STORE", "file")).rejects.toThrow("ERR syntax error");
        await expect(r.call("MAP", 4096, "STORE", "tmpfs")).rejects.toThrow(
          "ERR STORE must be anon or file NAME",
        );
        await expect(r.call("MAP", 4096, "HINT")).rejects.toThrow("ERR syntax error");
        await expect(r.call("MAP", 999_999_999_999_999)).rejects.toThrow(
          /^ERR invalid length 999999999999999: /,
        );
        for (const h of made) expect(await r.call("FREE", h)).toBe("OK");
      });
    });
  });
}
