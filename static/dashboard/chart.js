/**
 * The page cache over time: resident, dirty and free frames as lines, against the free-page
 * watermarks (min, low, high) and the dirty thresholds (low, high) as dashed levels, when the
 * reclaim layer reports them (Service.stats().maps keys wmarkMin, wmarkLow, wmarkHigh, dirtyLow,
 * dirtyHigh, free).
 */
const KEEP = 240;

const SERIES = [
  ["resident", "#15b79e"],
  ["dirty", "#f04438"],
  ["free", "#12a150"],
];
const LEVELS = [
  ["wmarkMin", "#d92d20"],
  ["wmarkLow", "#f79009"],
  ["wmarkHigh", "#fdb022"],
  ["dirtyLow", "#9e77ed"],
  ["dirtyHigh", "#6938ef"],
];

export class PageCacheChart {
  constructor(canvas, keys) {
    this.canvas = canvas;
    this.keys = keys;
    this.samples = [];
  }

  push(maps) {
    const frames = maps.frames || 0;
    const free = typeof maps.free === "number" ? maps.free : frames - (maps.resident || 0);
    this.samples.push({ ...maps, free });
    if (this.samples.length > KEEP) this.samples.shift();
    this.draw(frames);
  }

  draw(frames) {
    const c = this.canvas;
    const ctx = c.getContext("2d");
    const w = c.width;
    const h = c.height;
    ctx.clearRect(0, 0, w, h);
    const top = Math.max(frames, 1);
    const y = (v) => h - 4 - (v / top) * (h - 8);
    const last = this.samples[this.samples.length - 1];
    const shown = [];
    ctx.setLineDash([4, 3]);
    for (const [key, colour] of LEVELS) {
      if (typeof last[key] !== "number") continue;
      shown.push(`<span style="color:${colour}">- - ${key} ${last[key]}</span>`);
      ctx.strokeStyle = colour;
      ctx.beginPath();
      ctx.moveTo(0, y(last[key]));
      ctx.lineTo(w, y(last[key]));
      ctx.stroke();
    }
    ctx.setLineDash([]);
    for (const [key, colour] of SERIES) {
      shown.push(`<span style="color:${colour}">— ${key} ${last[key] ?? 0}</span>`);
      ctx.strokeStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      this.samples.forEach((s, i) => {
        const x = (i / (KEEP - 1)) * w;
        if (i === 0) ctx.moveTo(x, y(s[key] || 0));
        else ctx.lineTo(x, y(s[key] || 0));
      });
      ctx.stroke();
    }
    this.keys.innerHTML = `${shown.join(" ")} <span>(of ${frames} frames)</span>`;
  }
}
