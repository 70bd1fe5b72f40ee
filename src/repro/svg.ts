/** A minimal SVG line chart with 95 % interval bands, for result figures written from Node. */
export interface Series {
  name: string;
  color: string;
  points: { x: number; y: number; lo?: number | null; hi?: number | null }[];
  dashed?: boolean;
  /** false: points only (a scatter). */
  line?: boolean;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  yMax?: number;
  /** x ticks to draw (and to include in the range); default: every x of the data. */
  xTicks?: number[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panel(p: Panel, ox: number, w: number, h: number): string {
  const m = { l: 52, r: 12, t: 28, b: 42 };
  const xs = p.series.flatMap((s) => s.points.map((q) => q.x));
  const ticks = p.xTicks ?? [...new Set(xs)].sort((a, b) => a - b);
  const [x0, x1] = [Math.min(...xs, ...ticks), Math.max(...xs, ...ticks)];
  const yMax = p.yMax ?? Math.max(...p.series.flatMap((s) => s.points.map((q) => q.hi ?? q.y))) * 1.1;
  const X = (x: number) => ox + m.l + ((x - x0) / (x1 - x0 || 1)) * (w - m.l - m.r);
  const Y = (y: number) => m.t + (1 - Math.max(0, Math.min(yMax, y)) / yMax) * (h - m.t - m.b);
  const out: string[] = [`<text x="${ox + w / 2}" y="16" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`];
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4;
    out.push(`<line x1="${X(x0)}" x2="${X(x1)}" y1="${Y(y)}" y2="${Y(y)}" stroke="#ddd"/><text x="${X(x0) - 6}" y="${Y(y) + 4}" text-anchor="end">${y.toFixed(2)}</text>`);
  }
  for (const x of ticks) out.push(`<text x="${X(x)}" y="${h - m.b + 16}" text-anchor="middle">${+x.toFixed(2)}</text>`);
  out.push(`<text x="${ox + w / 2}" y="${h - 6}" text-anchor="middle">${esc(p.xLabel)}</text>`);
  out.push(`<text transform="translate(${ox + 14},${h / 2}) rotate(-90)" text-anchor="middle">${esc(p.yLabel)}</text>`);
  p.series.forEach((s, si) => {
    const band = s.points.filter((q) => q.lo != null && q.hi != null);
    if (band.length > 1) {
      const pts = [...band.map((q) => `${X(q.x)},${Y(q.hi!)}`), ...band.reverse().map((q) => `${X(q.x)},${Y(q.lo!)}`)].join(' ');
      out.push(`<polygon points="${pts}" fill="${s.color}" opacity="0.15"/>`);
    }
    if (s.line !== false) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,4"' : ''} points="${s.points.map((q) => `${X(q.x)},${Y(q.y)}`).join(' ')}"/>`);
    for (const q of s.points) out.push(`<circle cx="${X(q.x)}" cy="${Y(q.y)}" r="3" fill="${s.color}"/>`);
    // Legend top left; for scatters (explicit x ticks) bottom right, clear of high-entropy points.
    const lx = p.xTicks ? ox + w - m.r - 190 : ox + m.l + 8;
    const ly = p.xTicks ? h - m.b - 12 - (p.series.length - 1 - si) * 16 : m.t + 6 + si * 16;
    out.push(`<rect x="${lx}" y="${ly}" width="12" height="3" fill="${s.color}"/><text x="${lx + 16}" y="${ly + 5}">${esc(s.name)}</text>`);
  });
  return out.join('\n');
}

export function svgPanels(panels: Panel[], w = 420, h = 300): string {
  const body = panels.map((p, i) => panel(p, i * w, w, h)).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w * panels.length}" height="${h}" font-family="sans-serif" font-size="11">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}
