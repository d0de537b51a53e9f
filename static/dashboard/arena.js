/**
 * The arena as a picture: one cell per page (or per group of pages in large pools), coloured by
 * what the block holding it is (free by order, slab, kmalloc, vmalloc, large, metadata, reserve),
 * and a tooltip with the block's address, size and owner. Runs come from /events `map` messages
 * (src/observe/feed.ts documents the encoding: start, pages, kind, detail, owner).
 */
const RUN = 5;
const COLUMNS = 256;
const MAX_CELLS = COLUMNS * 256;

/** Colours by kind; free blocks get a green per order (lighter = larger). */
export const COLOURS = {
  header: "#101828",
  meta: "#667085",
  reserve: "#fdb022",
  slab: "#9e77ed",
  kmalloc: "#2e90fa",
  large: "#f04438",
  cached: "#fda29b",
  vmalloc: "#f79009",
  pages: "#a15c07",
  pagecache: "#15b79e",
};

function freeColour(order) {
  const l = 78 - Math.min(order, 10) * 4;
  return `hsl(140 45% ${l}%)`;
}

function rgb(css) {
  const c = document.createElement("canvas").getContext("2d");
  c.fillStyle = css;
  c.fillRect(0, 0, 1, 1);
  return c.getImageData(0, 0, 1, 1).data;
}

export class ArenaView {
  constructor(canvas, tip, legend, scale) {
    this.canvas = canvas;
    this.tip = tip;
    this.legend = legend;
    this.scale = scale;
    this.map = null;
    this.palette = new Map();
    canvas.addEventListener("mousemove", (e) => this.hover(e));
    canvas.addEventListener("mouseleave", () => {
      tip.hidden = true;
    });
  }

  /** Colour code of a run: kinds below 64, free orders from 64. */
  code(kind, detail) {
    return this.map.kinds[kind] === "free" ? 64 + Math.max(0, detail) : kind;
  }

  colour(code) {
    let c = this.palette.get(code);
    if (c === undefined) {
      c = rgb(code >= 64 ? freeColour(code - 64) : COLOURS[this.map.kinds[code]] || "#888");
      this.palette.set(code, c);
    }
    return c;
  }

  update(map) {
    this.map = map;
    const total = map.segments.reduce((n, s) => n + s.pageCount, 0);
    this.total = total;
    this.perCell = Math.max(1, Math.ceil(total / MAX_CELLS));
    const cells = Math.ceil(total / this.perCell);
    const rows = Math.ceil(cells / COLUMNS);
    // Small pools get larger cells: 4 px up to 64 rows, 3 px beyond.
    this.px = rows <= 64 ? 4 : 3;
    this.canvas.width = COLUMNS * this.px;
    this.canvas.height = rows * this.px;
    this.scale.textContent = `${total} pages of ${map.segments[0]?.pageSize ?? 0} bytes, ${this.perCell} page(s) per cell`;
    const codes = new Uint8Array(total);
    const pages = new Map();
    let base = 0;
    for (const seg of map.segments) {
      const r = seg.runs;
      for (let i = 0; i < r.length; i += RUN) {
        codes.fill(this.code(r[i + 2], r[i + 3]), base + r[i], base + r[i] + r[i + 1]);
        const kind = map.kinds[r[i + 2]];
        pages.set(kind, (pages.get(kind) ?? 0) + r[i + 1]);
      }
      base += seg.pageCount;
    }
    this.draw(codes, cells);
    this.drawLegend(pages);
  }

  draw(codes, cells) {
    const ctx = this.canvas.getContext("2d");
    const img = ctx.createImageData(this.canvas.width, this.canvas.height);
    const count = new Map();
    for (let cell = 0; cell < cells; cell++) {
      // The most frequent code among the cell's pages.
      let best = codes[cell * this.perCell];
      if (this.perCell > 1) {
        count.clear();
        let most = 0;
        const end = Math.min(codes.length, (cell + 1) * this.perCell);
        for (let p = cell * this.perCell; p < end; p++) {
          const n = (count.get(codes[p]) ?? 0) + 1;
          count.set(codes[p], n);
          if (n > most) {
            most = n;
            best = codes[p];
          }
        }
      }
      const c = this.colour(best);
      const x0 = (cell % COLUMNS) * this.px;
      const y0 = Math.floor(cell / COLUMNS) * this.px;
      for (let y = y0; y < y0 + this.px; y++) {
        for (let x = x0; x < x0 + this.px; x++) {
          const o = (y * img.width + x) * 4;
          img.data[o] = c[0];
          img.data[o + 1] = c[1];
          img.data[o + 2] = c[2];
          img.data[o + 3] = 255;
        }
      }
    }
    ctx.putImageData(img, 0, 0);
  }

  drawLegend(pages) {
    const items = [];
    for (const kind of this.map.kinds) {
      const colour = kind === "free" ? freeColour(3) : COLOURS[kind];
      const n = pages.get(kind) ?? 0;
      items.push(
        `<li><i style="background:${colour}"></i>${kind} <b class="count" data-kind="${kind}">${n}</b> pages</li>`,
      );
    }
    this.legend.innerHTML = items.join("");
  }

  /** The block under the pointer: address, size, kind and owner. */
  describeAt(cell) {
    const map = this.map;
    let page = cell * this.perCell;
    for (const seg of map.segments) {
      if (page >= seg.pageCount) {
        page -= seg.pageCount;
        continue;
      }
      const i = runAt(seg.runs, page);
      if (i < 0) return null;
      const r = seg.runs;
      const o = i * RUN;
      const kind = map.kinds[r[o + 2]];
      const detail = r[o + 3];
      const ownerCode = r[o + 4];
      const owner =
        ownerCode === -1 ? "none" : ownerCode === -2 ? "several identities" : map.owners[ownerCode];
      const what =
        kind === "free"
          ? `free, order ${detail}`
          : kind === "slab" || kind === "kmalloc"
            ? `${kind} slab of ${map.caches[map.segments.indexOf(seg)][detail]}`
            : kind;
      const address = seg.base + r[o] * seg.pageSize;
      return {
        kind,
        what,
        address,
        size: r[o + 1] * seg.pageSize,
        owner,
      };
    }
    return null;
  }

  hover(e) {
    if (this.map === null) return;
    const rect = this.canvas.getBoundingClientRect();
    const sx = this.canvas.width / rect.width;
    const x = Math.floor(((e.clientX - rect.left) * sx) / this.px);
    const y = Math.floor(((e.clientY - rect.top) * sx) / this.px);
    const cell = y * COLUMNS + x;
    const d = this.describeAt(cell);
    if (d === null) {
      this.tip.hidden = true;
      return;
    }
    this.tip.dataset.kind = d.kind;
    this.tip.dataset.owner = d.owner;
    this.tip.dataset.address = String(d.address);
    this.tip.dataset.size = String(d.size);
    this.tip.textContent =
      `${d.what}\naddress 0x${d.address.toString(16)} (${d.address})\n` +
      `size ${d.size} bytes\nowner ${d.owner}` +
      (this.perCell > 1 ? `\n(cell of ${this.perCell} pages)` : "");
    this.tip.style.left = `${e.clientX - rect.left + 14}px`;
    this.tip.style.top = `${e.clientY - rect.top + 14}px`;
    this.tip.hidden = false;
  }
}

export function runAt(runs, page) {
  let lo = 0;
  let hi = runs.length / RUN - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const start = runs[mid * RUN];
    if (page < start) hi = mid - 1;
    else if (page >= start + runs[mid * RUN + 1]) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** The page cache's frames as a strip: dirty, then clean resident, then free. */
export function drawFrames(canvas, maps) {
  const ctx = canvas.getContext("2d");
  const frames = maps.frames || 0;
  const resident = maps.resident || 0;
  const dirty = maps.dirty || 0;
  const w = canvas.width;
  ctx.clearRect(0, 0, w, canvas.height);
  if (frames === 0) return;
  const x1 = (dirty / frames) * w;
  const x2 = (resident / frames) * w;
  ctx.fillStyle = COLOURS.large;
  ctx.fillRect(0, 0, x1, canvas.height);
  ctx.fillStyle = COLOURS.pagecache;
  ctx.fillRect(x1, 0, x2 - x1, canvas.height);
  ctx.fillStyle = freeColour(0);
  ctx.fillRect(x2, 0, w - x2, canvas.height);
}
