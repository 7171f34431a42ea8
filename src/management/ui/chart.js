// A line chart in inline SVG: a few series over time, y from zero to a rounded maximum,
// the newest point at the right edge.

const NS = "http://www.w3.org/2000/svg";
const W = 560, H = 200, LEFT = 52, RIGHT = 10, TOP = 10, BOTTOM = 24;

function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

/// 1, 2 or 5 times a power of ten, at least `v`.
function niceCeil(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function label(v) {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(2)}`;
}

/// `times`: ms timestamps; `series`: [{name, color, values}]; `title` names the chart for
/// screen readers.
export function lineChart(title, times, series, { unit = "" } = {}) {
  const plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
  const max = niceCeil(Math.max(0, ...series.flatMap((x) => x.values)));
  const t0 = times.length ? times[0] : 0;
  const t1 = times.length ? times[times.length - 1] : 1;
  const span = Math.max(t1 - t0, 60_000);
  const x = (t) => LEFT + plotW - ((t1 - t) / span) * plotW;
  const y = (v) => TOP + plotH - (v / max) * plotH;
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title, class: "chart" });
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    svg.append(
      s("line", { x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v), class: "grid" }),
      s("text", { x: LEFT - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, label(v) + unit),
    );
  }
  for (const ago of [0, 120, 240, 360, 480, 600]) {
    const t = t1 - ago * 1000;
    if (t < t1 - span) continue;
    svg.append(s("text", { x: x(t), y: H - 6, "text-anchor": ago === 0 ? "end" : "middle", class: "axis" },
      ago === 0 ? "now" : `-${ago / 60}m`));
  }
  for (const line of series) {
    const pts = times.map((t, i) => `${x(t).toFixed(1)},${y(line.values[i] || 0).toFixed(1)}`);
    if (pts.length === 1) pts.push(`${(x(times[0]) - 2).toFixed(1)},${y(line.values[0] || 0).toFixed(1)}`);
    if (pts.length) svg.append(s("polyline", { points: pts.join(" "), fill: "none", stroke: line.color, "stroke-width": 2 }));
  }
  return svg;
}

/// The legend beside a chart: each series' colour, name and latest value.
export function legend(series, format) {
  const ul = document.createElement("ul");
  ul.className = "legend";
  for (const line of series) {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = line.color;
    const last = line.values.length ? line.values[line.values.length - 1] : 0;
    li.append(sw, `${line.name}: `, Object.assign(document.createElement("strong"), { textContent: format(last) }));
    ul.append(li);
  }
  return ul;
}
