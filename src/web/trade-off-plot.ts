/**
 * The trade-off drawn on a canvas: accuracy and the share answered in the browser against the threshold, and where
 * the slider stands. The page states the same figures in text; the plot only shows their shape.
 *
 * @module
 */
import type { TradeOffPoint } from './trade-off.ts';

/** Line colours, each at least 4.5:1 against the white background. */
const ACCURACY = '#1b4f9c';
const SHARE = '#9a3c00';
const INK = '#222';

/** Draws `curve` on `canvas` with a marker at `threshold`. */
export function drawTradeOff(canvas: HTMLCanvasElement, curve: readonly TradeOffPoint[], threshold: number): void {
  const c = canvas.getContext('2d');
  if (c === null || curve.length < 2) return;
  const { width, height } = canvas;
  const pad = { left: 44, right: 12, top: 12, bottom: 30 };
  const lo = curve[0].threshold;
  const hi = curve[curve.length - 1].threshold;
  const x = (t: number) => pad.left + ((t - lo) / (hi - lo || 1)) * (width - pad.left - pad.right);
  const y = (v: number) => height - pad.bottom - v * (height - pad.top - pad.bottom);
  c.clearRect(0, 0, width, height);
  c.fillStyle = '#fff';
  c.fillRect(0, 0, width, height);
  c.strokeStyle = '#767676';
  c.lineWidth = 1;
  c.font = '12px system-ui, sans-serif';
  c.fillStyle = INK;
  for (const v of [0, 0.5, 1]) {
    c.beginPath();
    c.moveTo(pad.left, y(v));
    c.lineTo(width - pad.right, y(v));
    c.stroke();
    c.fillText(`${v * 100}%`, 4, y(v) + 4);
  }
  c.fillText(lo.toFixed(2), pad.left, height - 10);
  c.fillText(hi.toFixed(2), width - pad.right - 28, height - 10);
  c.fillText('threshold', width / 2 - 24, height - 10);
  const line = (color: string, value: (p: TradeOffPoint) => number) => {
    c.strokeStyle = color;
    c.lineWidth = 2;
    c.beginPath();
    curve.forEach((p, i) => (i === 0 ? c.moveTo(x(p.threshold), y(value(p))) : c.lineTo(x(p.threshold), y(value(p)))));
    c.stroke();
  };
  line(ACCURACY, (p) => p.accuracy);
  line(SHARE, (p) => p.browserShare);
  c.strokeStyle = INK;
  c.setLineDash([4, 3]);
  c.beginPath();
  c.moveTo(x(threshold), pad.top);
  c.lineTo(x(threshold), height - pad.bottom);
  c.stroke();
  c.setLineDash([]);
  // The legend sits low on the right, where the share answered in the browser is already high.
  c.fillStyle = ACCURACY;
  c.fillText('— accuracy', width - pad.right - 175, y(0.3));
  c.fillStyle = SHARE;
  c.fillText('— answered in the browser', width - pad.right - 175, y(0.3) + 16);
}
