// Canvas plots drawn by the app (no chart library): stacked panels sharing an x axis, each with
// lines or dots, axes with a few round ticks, and a legend. Redrawn at the canvas's CSS size and
// the device pixel ratio so they stay sharp, and again whenever the canvas is resized.

const drawn = new WeakMap();
const observer = typeof ResizeObserver === "function"
  ? new ResizeObserver((entries) => {
    for (const entry of entries) {
      const spec = drawn.get(entry.target);
      if (spec) paint(entry.target, spec);
    }
  })
  : null;

function cssVar(name, fallback) {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

/** Round tick values covering [min, max] (about `count` of them). */
export function ticks(min, max, count = 5) {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [];
  if (min === max) return [min];
  const raw = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function format(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  // At most 3 significant digits, without trailing zeros ("5", "2.5", "0.125").
  return String(Number(v.toPrecision(a >= 1 ? 3 : 2)));
}

function extent(values, { includeZero = false } = {}) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (includeZero) { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) { const pad = Math.abs(lo) * 0.1 || 1; return [lo - pad, hi + pad]; }
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

function paint(canvas, spec) {
  const dpr = window.devicePixelRatio || 1;
  const width = Math.max(240, Math.round(canvas.clientWidth || spec.baseWidth || 800));
  const height = Math.round(Math.min(spec.maxHeight ?? 480, Math.max(spec.minHeight ?? 200, width * (spec.ratio ?? 0.45))));
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  const fg = cssVar("--fg", "#1b1f24");
  const muted = cssVar("--muted", "#5b6470");
  const grid = cssVar("--border", "#d5dae1");
  ctx.fillStyle = cssVar("--card", "#ffffff");
  ctx.fillRect(0, 0, width, height);
  ctx.font = "12px system-ui, 'DejaVu Sans', sans-serif";

  const left = width < 420 ? 40 : 52;
  const right = 12;
  const top = 8;
  const bottom = 34;
  const gap = 26;
  const panels = spec.panels;
  const panelHeight = (height - top - bottom - gap * (panels.length - 1)) / panels.length;
  const [x0, x1] = spec.xRange;
  const xScale = (x) => left + ((x - x0) / (x1 - x0 || 1)) * (width - left - right);

  panels.forEach((panel, index) => {
    const y = top + index * (panelHeight + gap) + 16;
    const h = panelHeight - 16;
    const all = panel.series.flatMap((s) => s.points.map((p) => p[1]));
    const [y0, y1] = panel.yRange ?? extent(all, { includeZero: panel.includeZero });
    const yScale = (v) => y + h - ((v - y0) / (y1 - y0 || 1)) * h;

    // title, led by a swatch per series (the title names what is drawn)
    ctx.textBaseline = "alphabetic";
    ctx.textAlign = "left";
    let titleX = left;
    for (const s of panel.series) {
      ctx.fillStyle = s.color;
      ctx.fillRect(titleX, y - 12, 10, 8);
      titleX += 14;
    }
    ctx.fillStyle = fg;
    ctx.fillText(panel.title, titleX + 2, y - 4);

    // grid + y ticks
    ctx.strokeStyle = grid;
    ctx.lineWidth = 1;
    ctx.fillStyle = muted;
    ctx.textBaseline = "middle";
    for (const t of ticks(y0, y1, Math.max(2, Math.round(h / 40)))) {
      const py = Math.round(yScale(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(left, py);
      ctx.lineTo(width - right, py);
      ctx.stroke();
      ctx.fillText(format(t), left - 6, py);
    }
    if (y0 < 0 && y1 > 0) {
      ctx.strokeStyle = muted;
      ctx.beginPath();
      ctx.moveTo(left, yScale(0));
      ctx.lineTo(width - right, yScale(0));
      ctx.stroke();
    }
    ctx.strokeStyle = muted;
    ctx.strokeRect(left + 0.5, y + 0.5, width - left - right - 1, h);

    // series
    ctx.save();
    ctx.beginPath();
    ctx.rect(left, y, width - left - right, h);
    ctx.clip();
    for (const s of panel.series) {
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = 2;
      if (s.kind === "line") {
        ctx.beginPath();
        let started = false;
        for (const [px, py] of s.points) {
          if (!Number.isFinite(py)) { started = false; continue; }
          if (started) ctx.lineTo(xScale(px), yScale(py));
          else { ctx.moveTo(xScale(px), yScale(py)); started = true; }
        }
        ctx.stroke();
      }
      if (s.kind === "dots" || s.markers) {
        for (const [px, py] of s.points) {
          if (!Number.isFinite(py)) continue;
          ctx.beginPath();
          ctx.arc(xScale(px), yScale(py), s.kind === "dots" ? 3 : 3.5, 0, Math.PI * 2);
          ctx.fill();
        }
      }
    }
    ctx.restore();
    if (!all.some(Number.isFinite) && panel.empty) {
      ctx.fillStyle = muted;
      ctx.textAlign = "center";
      ctx.fillText(panel.empty, left + (width - left - right) / 2, y + h / 2);
    }
  });

  // x axis
  ctx.fillStyle = muted;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const axisY = height - bottom + 6;
  for (const t of ticks(x0, x1, Math.max(2, Math.round((width - left) / 90)))) ctx.fillText(format(t), xScale(t), axisY);
  ctx.fillText(spec.xLabel, left + (width - left - right) / 2, axisY + 14);
}

/**
 * Draws `spec` on `canvas` and keeps it drawn across resizes. spec: { xRange: [lo, hi], xLabel,
 * ratio, minHeight, maxHeight (CSS px), panels: [{ title, includeZero?, empty?, series: [{ label, color, kind:
 * "line"|"dots", markers?, points: [[x, y]] }] }] }.
 */
export function plot(canvas, spec) {
  drawn.set(canvas, spec);
  paint(canvas, spec);
  observer?.observe(canvas);
}

/** Series colours that read on light and dark backgrounds. */
export const COLORS = { returns: "#e8590c", advantage: "#1c7ed6", spread: "#82c91e", run: "#ae3ec9" };
