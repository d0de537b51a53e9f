/*
 * replay: replays a binary op file (bench/malloc/ops.ts describes the layout) through the C
 * allocator the process is linked with -- glibc's malloc, or whatever LD_PRELOAD puts in front of
 * it (mimalloc, jemalloc, tcmalloc) -- and prints one JSON line:
 *
 *   {"allocator":"glibc","ns_per_op":...,"ops":...,"timed_ops":...,"footprint_bytes":...,...}
 *
 * usage: replay OPFILE [--verify] [--max-ops N]
 *
 * Replay rules (../shared/malloc/README.md): the op file is mapped and touched before anything is
 * timed; only the operation loop after the untimed prefill is timed (clock_gettime, MONOTONIC; the
 * thread's CPU time over the same loop is reported too, as cpu_ns_per_op).
 * After every successful a/c/r, one byte is written at offset 0 and at every 4096 bytes of the new
 * block. Cheap checks run inside the loop in every replayer alike: a calloc'd block must read 0 at
 * offsets 0, size/2 and size-1; after a realloc, byte 0 must still hold the tag written when the
 * old block was allocated. --verify (an untimed correctness run) instead fills every block with
 * its tag, checks the whole block before each free and realloc, the kept prefix after realloc, the
 * whole of every calloc'd block, and every block still live at the end.
 *
 * Footprint: the high-water mark of resident memory during the replay (prefill included) minus the
 * resident memory just before it, i.e. what the allocator took from the system. Before the replay
 * the op arrays and the id tables are mapped and touched, then "5" is written to
 * /proc/self/clear_refs, which resets VmHWM to the current VmRSS; after the loop VmHWM is read
 * from /proc/self/status. If clear_refs cannot be written, VmHWM is taken as is (it then also
 * covers anything before the replay) and "hwm_reset" says false. Size-0 requests are passed
 * through unchanged (malloc(0) is legal C) and not touched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x504f4e4du
#define VERSION 1u
#define HEADER 64

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

static inline uint8_t tag(uint32_t id) { return (uint8_t)(0x80u | (id & 0x3fu)); }

/* Reads "Key:   123 kB" from /proc/self/status without malloc. */
static long status_kb(const char *key) {
  char buf[8192];
  int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  size_t kl = strlen(key);
  for (char *p = buf; p && *p; p = strchr(p, '\n')) {
    if (*p == '\n') p++;
    if (strncmp(p, key, kl) == 0 && p[kl] == ':') return strtol(p + kl + 1, NULL, 10);
  }
  return -1;
}

static const char *detect_allocator(void) {
  if (dlsym(RTLD_DEFAULT, "mi_version")) return "mimalloc";
  if (dlsym(RTLD_DEFAULT, "tc_version")) return "tcmalloc";
  if (dlsym(RTLD_DEFAULT, "mallctl")) return "jemalloc";
  return "glibc";
}

static void die(const char *msg) {
  fprintf(stderr, "replay: %s\n", msg);
  exit(2);
}

struct ops {
  uint32_t n, prefill, nr, max_id;
  double peak_live;
  const uint8_t *code;
  const uint32_t *id, *size, *old_id;
};

static void *alloc_op(uint8_t c, size_t s) {
  unsigned la = c >> 2;
  if (la == 0) return malloc(s);
  size_t align = (size_t)1 << la;
  if (align <= sizeof(void *)) return malloc(s);
  void *p = NULL;
  return posix_memalign(&p, align, s) == 0 ? p : NULL;
}

static inline void touch(uint8_t *p, size_t s, uint8_t t) {
  for (size_t o = 0; o < s; o += 4096) p[o] = t;
}

/* The timed replay: ops [from, to). Returns the number of check failures. */
static long replay(const struct ops *o, uint32_t from, uint32_t to, uint32_t *ri, void **ptr, uint32_t *sz) {
  long bad = 0;
  uint32_t r = *ri;
  for (uint32_t i = from; i < to; i++) {
    uint8_t c = o->code[i];
    uint32_t id = o->id[i];
    switch (c & 3) {
    case 0: {
      size_t s = o->size[i];
      uint8_t *p = alloc_op(c, s);
      if (!p && s) die("allocation failed");
      ptr[id] = p;
      sz[id] = (uint32_t)s;
      touch(p, s, tag(id));
      break;
    }
    case 1: {
      size_t s = o->size[i];
      uint8_t *p = calloc(1, s);
      if (!p && s) die("calloc failed");
      if (s) bad += (p[0] | p[s >> 1] | p[s - 1]) != 0;
      ptr[id] = p;
      sz[id] = (uint32_t)s;
      touch(p, s, tag(id));
      break;
    }
    case 2:
      free(ptr[id]);
      break;
    default: {
      uint32_t old = o->old_id[r++];
      size_t s = o->size[i];
      uint8_t *p = realloc(ptr[old], s);
      if (!p && s) die("realloc failed");
      if (s && sz[old]) bad += p[0] != tag(old);
      ptr[id] = p;
      sz[id] = (uint32_t)s;
      touch(p, s, tag(id));
      break;
    }
    }
  }
  *ri = r;
  return bad;
}

static long check_fill(const uint8_t *p, size_t s, uint8_t t) {
  for (size_t k = 0; k < s; k++)
    if (p[k] != t) return 1;
  return 0;
}

/* The --verify replay: full patterns, full checks. Returns the number of failures. */
static long verify(const struct ops *o, uint32_t to, void **ptr, uint32_t *sz, unsigned char *live) {
  long bad = 0;
  uint32_t r = 0;
  for (uint32_t i = 0; i < to; i++) {
    uint8_t c = o->code[i];
    uint32_t id = o->id[i];
    size_t s = o->size[i];
    uint8_t *p;
    switch (c & 3) {
    case 0:
      p = alloc_op(c, s);
      if (!p && s) die("allocation failed");
      if ((c >> 2) && ((uintptr_t)p & (((uintptr_t)1 << (c >> 2)) - 1))) bad++;
      break;
    case 1:
      p = calloc(1, s);
      if (!p && s) die("calloc failed");
      for (size_t k = 0; k < s; k++) bad += p[k] != 0;
      break;
    case 2:
      bad += check_fill(ptr[id], sz[id], tag(id));
      free(ptr[id]);
      live[id] = 0;
      continue;
    default: {
      uint32_t old = o->old_id[r++];
      bad += check_fill(ptr[old], sz[old], tag(old));
      live[old] = 0;
      p = realloc(ptr[old], s);
      if (!p && s) die("realloc failed");
      bad += check_fill(p, s < sz[old] ? s : sz[old], tag(old));
      break;
    }
    }
    ptr[id] = p;
    sz[id] = (uint32_t)s;
    live[id] = 1;
    memset(p, tag(id), s);
  }
  for (uint32_t id = 0; id < o->max_id; id++)
    if (live[id]) bad += check_fill(ptr[id], sz[id], tag(id));
  return bad;
}

int main(int argc, char **argv) {
  const char *path = NULL;
  int do_verify = 0;
  unsigned long max_ops = 0xffffffffu;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--verify") == 0) do_verify = 1;
    else if (strcmp(argv[i], "--max-ops") == 0 && i + 1 < argc) max_ops = strtoul(argv[++i], NULL, 10);
    else if (argv[i][0] == '-') die("usage: replay OPFILE [--verify] [--max-ops N]");
    else path = argv[i];
  }
  if (!path) die("usage: replay OPFILE [--verify] [--max-ops N]");

  int fd = open(path, O_RDONLY);
  if (fd < 0) die("cannot open the op file");
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < HEADER) die("bad op file");
  const uint8_t *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (map == MAP_FAILED) die("mmap failed");
  close(fd);
  uint32_t h[16];
  memcpy(h, map, sizeof h);
  if (h[0] != MAGIC || h[1] != VERSION) die("not a version 1 op file");
  struct ops o;
  o.n = h[2];
  o.prefill = h[3];
  o.nr = h[4];
  o.max_id = h[5];
  memcpy(&o.peak_live, map + 24, 8);
  size_t off_code = HEADER, off_id = off_code + pad8(o.n), off_size = off_id + pad8((size_t)o.n * 4),
         off_old = off_size + pad8((size_t)o.n * 4);
  if ((size_t)st.st_size < off_old + (size_t)o.nr * 4) die("truncated op file");
  o.code = map + off_code;
  o.id = (const uint32_t *)(map + off_id);
  o.size = (const uint32_t *)(map + off_size);
  o.old_id = (const uint32_t *)(map + off_old);
  uint32_t end = o.n < max_ops ? o.n : (uint32_t)max_ops;
  uint32_t prefill = o.prefill < end ? o.prefill : end;

  /* id tables outside the allocator under test, touched now */
  size_t ids = (size_t)o.max_id + 1;
  void **ptr = mmap(NULL, ids * sizeof(void *), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  uint32_t *sz = mmap(NULL, ids * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  unsigned char *live = mmap(NULL, ids, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ptr == MAP_FAILED || sz == MAP_FAILED || live == MAP_FAILED) die("mmap failed");
  memset(ptr, 0, ids * sizeof(void *));
  memset(sz, 0, ids * 4);
  memset(live, 0, ids);
  unsigned long sum = 0;
  for (size_t k = 0; k < (size_t)st.st_size; k += 4096) sum += map[k];
  /* let the allocator initialise itself before the baseline */
  free(malloc(16));

  const char *allocator = detect_allocator();
  long base_kb = status_kb("VmRSS");
  int hwm_reset = 0;
  int cfd = open("/proc/self/clear_refs", O_WRONLY);
  if (cfd >= 0) {
    hwm_reset = write(cfd, "5", 1) == 1;
    close(cfd);
  }
  if (hwm_reset) base_kb = status_kb("VmRSS");

  long bad;
  double ns = 0, cpu_ns = 0;
  if (do_verify) {
    bad = verify(&o, end, ptr, sz, live);
  } else {
    uint32_t ri = 0;
    bad = replay(&o, 0, prefill, &ri, ptr, sz);
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bad += replay(&o, prefill, end, &ri, ptr, sz);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    cpu_ns = (double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec);
  }
  long hwm_kb = status_kb("VmHWM");
  uint32_t timed = end - prefill;
  printf("{\"allocator\":\"%s\",\"ns_per_op\":%.3f,\"cpu_ns_per_op\":%.3f,\"ops\":%u,\"timed_ops\":%u,\"footprint_bytes\":%ld,"
         "\"rss_base_kb\":%ld,\"hwm_kb\":%ld,\"hwm_reset\":%s,\"errors\":%ld,\"verify\":%s,\"peak_live\":%.0f,"
         "\"touch_sum\":%lu}\n",
         allocator, do_verify || timed == 0 ? 0.0 : ns / timed, do_verify || timed == 0 ? 0.0 : cpu_ns / timed, end, timed, (hwm_kb - base_kb) * 1024, base_kb, hwm_kb,
         hwm_reset ? "true" : "false", bad, do_verify ? "true" : "false", o.peak_live, sum & 1);
  return bad ? 1 : 0;
}
