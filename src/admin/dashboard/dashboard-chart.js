/**
 * @module The requests/s chart over the last minute, drawn by uPlot (served from
 * node_modules as /uplot.js, a global): one band per backend, stacked, so that an exact
 * split shows as bands of equal width (lines of equal rates would hide each other) and
 * the top edge is the total. uPlot's own legend, a row per series, would not fit 30
 * backends: a compact legend is drawn below up to LEGEND_MAX backends; past that the
 * table's colour swatches are the legend.
 */
import { HISTORY_MS } from './dashboard-model.js';

const HEIGHT = 210;
const LEGEND_MAX = 12;
const AXIS = { stroke: '#6b7280', font: '11px system-ui, sans-serif', grid: { stroke: '#eef0f4', width: 1 }, ticks: { stroke: '#e5e7eb', width: 1 } };

const clock = (seconds) => new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
const translucent = (color) => (color.startsWith('#') ? `${color}80` : color.replace(')', ' / 0.5)'));
const compact = (value) => (value >= 10_000 ? `${Math.round(value / 1000)}k` : value >= 1000 ? `${(value / 1000).toFixed(1)}k` : String(value));

export function createChart(container, legend) {
  let plot = null;
  let signature = '';

  const options = (series) => ({
    width: Math.max(200, container.clientWidth),
    height: HEIGHT,
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    scales: {
      x: { time: true, range: (_u, _min, max) => [max - HISTORY_MS / 1000, max] },
      y: { range: (_u, _min, max) => [0, Math.max(1, (max ?? 0) * 1.15)] },
    },
    axes: [{ ...AXIS, space: 70, values: (_u, ticks) => ticks.map(clock) }, { ...AXIS, size: 44, values: (_u, ticks) => ticks.map(compact) }],
    series: [
      {},
      ...series.map(({ label, color }, i) => ({
        label,
        stroke: color,
        // Many thin bands: their edges would hide their fills.
        width: series.length > LEGEND_MAX ? 0.5 : 1.5,
        points: { show: false },
        fill: i === 0 ? translucent(color) : undefined,
      })),
    ],
    // Each band fills from the backend below it up to its own edge.
    bands: series.slice(1).map(({ color }, i) => ({ series: [i + 2, i + 1], fill: translucent(color) })),
  });

  /** Each series becomes the running total up to it; a rate not known yet stays unknown. */
  const stacked = ([times, ...rates]) => {
    const sums = times.map(() => 0);
    return [times, ...rates.map((column) => column.map((rate, t) => (rate === null ? null : (sums[t] += rate))))];
  };

  function drawLegend(series) {
    legend.replaceChildren();
    if (series.length > LEGEND_MAX) {
      legend.textContent = `${series.length} backends: colours as in the backend table`;
      return;
    }
    for (const { label, color } of series) {
      const entry = document.createElement('span');
      entry.className = 'entry';
      entry.style.setProperty('--swatch', color);
      entry.textContent = label;
      legend.append(entry);
    }
  }

  /** `columns`: {keys, data} from chartColumns; `series`: {label, color} per key, same order. */
  function update(columns, series) {
    if (typeof globalThis.uPlot !== 'function') return;
    const next = columns.keys.join('\n') + series.map((s) => s.label).join('\n');
    if (plot === null || next !== signature) {
      plot?.destroy();
      plot = new globalThis.uPlot(options(series), stacked(columns.data), container);
      signature = next;
      drawLegend(series);
    } else {
      plot.setData(stacked(columns.data));
    }
  }

  addEventListener('resize', () => plot?.setSize({ width: Math.max(200, container.clientWidth), height: HEIGHT }));
  return { update };
}
