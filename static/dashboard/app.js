/**
 * The dashboard: subscribes to /events (server-sent events from src/observe/http.ts) and renders
 * every panel from the messages: `stats` (a snapshot of every layer, several times a second),
 * `map` (the arena's blocks, when they changed) and `event` (reclaim, throttling, OOM kills,
 * recoveries, ... as they happen). Plain modules, no build step.
 */
import { ArenaView, drawFrames } from "./arena.js";
import { PageCacheChart } from "./chart.js";

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat("en");

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

/** Rows of a key/value table; each value cell carries data-stat and data-value for tests and tools. */
function kv(table, rows) {
  table.tBodies[0].innerHTML = rows
    .map(
      ([key, value, shown]) =>
        `<tr><td>${esc(key)}</td><td data-stat="${esc(key)}" data-value="${esc(value)}">${esc(shown ?? fmt.format(value))}</td></tr>`,
    )
    .join("");
}

function grid(table, rows) {
  table.tBodies[0].innerHTML = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("");
}

const arena = new ArenaView($("arena"), $("tip"), $("legend"), $("arena-scale"));
const chart = new PageCacheChart($("pagecache"), $("pagecache-keys"));
const events = [];

function renderStats(s) {
  const st = s.stats;
  const p = st.pool;
  // The whole pool's figures, a multi-segment pool's too (its per-segment ones are in heap.segments).
  const heap = st.heap;
  $("hdr-used").textContent = bytes(p.total - p.free);
  $("hdr-total").textContent = bytes(p.total);
  $("hdr-clients").textContent = st.clients;
  $("hdr-handles").textContent = st.handles;
  $("hdr-uptime").textContent = `${Math.floor(st.uptimeMs / 1000)} s`;
  const page = heap.pageLayer;
  kv($("numbers"), [
    ["pool.total", p.total, bytes(p.total)],
    ["pool.free", p.free, bytes(p.free)],
    ["pool.used", p.total - p.free, bytes(p.total - p.free)],
    ["pool.contiguous", p.contiguous, bytes(p.contiguous)],
    ["page.fragmentation", page.fragmentation, page.fragmentation.toFixed(3)],
    ["page.freeBlocksPerOrder", page.freeBlocksPerOrder.join(" "), page.freeBlocksPerOrder.join(" ")],
    ["heap.footprint", heap.footprint, bytes(heap.footprint)],
    ["heap.objects", heap.objects],
    ["heap.large", heap.large.count],
    ["heap.vmalloc", heap.vmalloc.areas],
    ["handles", st.handles],
    ["clients", st.clients],
    ["allocs", st.counters.allocs],
    ["frees", st.counters.frees],
    ["reads", st.counters.reads],
    ["writes", st.counters.writes],
    ["commands", st.counters.commands],
    ["replyBuffersInUse", st.replyBuffers.replyBuffersInUse],
  ]);
  const caches = heap.caches;
  const named = caches.filter((c) => !c.kmalloc);
  grid(
    $("slabs"),
    named.length === 0
      ? [["none yet (named caches come from heap.createCache)", "", "", "", "", ""]]
      : named.map((c) => [
          esc(c.name),
          c.objectSize,
          c.inUse,
          c.capacity,
          `${c.partialSlabs}/${c.fullSlabs}/${c.emptySlabs}`,
          bytes(c.headerBytes + c.tailBytes + c.paddingBytes),
        ]),
  );
  const classes = caches.filter((c) => c.kmalloc);
  const busy = classes.filter((c) => c.slabs > 0);
  grid($("kmalloc"), [
    ...busy.map((c) => [
      esc(c.name),
      c.inUse,
      c.capacity,
      c.slabs,
      bytes(c.headerBytes + c.tailBytes + c.paddingBytes),
    ]),
    [`${classes.length - busy.length} of ${classes.length} classes hold no slab`, "", "", "", ""],
  ]);
  grid(
    $("identities"),
    s.identities.map((u) => {
      const share = Math.min(100, (u.bytes / u.quotaBytes) * 100);
      return [
        esc(u.identity),
        u.connections,
        `${u.handles} / ${fmt.format(u.quotaHandles)}`,
        u.quotaBytes > 0
          ? `${bytes(u.bytes)} / ${bytes(u.quotaBytes)}<span class="bar"><span style="width:${share}%"></span></span>`
          : `${bytes(u.bytes)} / no limit`,
      ];
    }),
  );
  grid(
    $("clients"),
    s.clients.map((c) => [c.id, esc(c.identity), esc(c.name), esc(c.addr)]),
  );
  const maps = st.maps;
  chart.push(maps);
  drawFrames($("frames"), maps);
  kv(
    $("pagecache-table"),
    Object.entries(maps).filter(([, v]) => typeof v === "number"),
  );
  const rep = st.replication;
  kv(
    $("replication"),
    Object.entries(rep).map(([k, v]) => [
      k,
      typeof v === "object" ? JSON.stringify(v) : v,
      String(typeof v === "object" ? JSON.stringify(v) : v),
    ]),
  );
  $("event-counts").textContent = Object.entries(s.events)
    .map(([k, n]) => `${k} ${n}`)
    .join(" · ");
}

function addEvent(e) {
  events.push(e);
  if (events.length > 200) events.shift();
  const list = $("events");
  const li = document.createElement("li");
  li.dataset.kind = e.kind;
  li.textContent = `${new Date(e.time).toLocaleTimeString()} [${e.kind}] ${e.message}`;
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
}

function connect() {
  const source = new EventSource("/events");
  const status = $("status");
  source.addEventListener("open", () => {
    status.dataset.state = "live";
    status.textContent = "live";
  });
  source.addEventListener("error", () => {
    status.dataset.state = "lost";
    status.textContent = "reconnecting…";
    // A response that is not a stream (a proxy's 502) ends an EventSource for good: start anew.
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 1000);
  });
  source.addEventListener("hello", (m) => {
    const hello = JSON.parse(m.data);
    $("events").innerHTML = "";
    for (const e of hello.events) addEvent(e);
  });
  source.addEventListener("map", (m) => {
    arena.update(JSON.parse(m.data));
    $("frames").width = $("arena").width;
    document.body.dataset.mapUpdates = String(Number(document.body.dataset.mapUpdates ?? 0) + 1);
  });
  source.addEventListener("stats", (m) => {
    renderStats(JSON.parse(m.data));
    document.body.dataset.statsUpdates = String(Number(document.body.dataset.statsUpdates ?? 0) + 1);
  });
  source.addEventListener("event", (m) => addEvent(JSON.parse(m.data)));
}

connect();
