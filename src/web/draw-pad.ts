/**
 * The drawing pad: light strokes on a dark canvas, as MNIST's digits are, drawn with a mouse, a finger or a pen.
 * It also shows a picked image, scaled up, so that what the network sees is what the page shows.
 *
 * @module
 */

/** A canvas to draw on. */
export class DrawPad {
  readonly canvas: HTMLCanvasElement;
  private readonly context: CanvasRenderingContext2D;
  private last?: { x: number; y: number };
  private strokes = 0;

  /**
   * @param onStroke called when a stroke ends (the pointer is lifted).
   */
  constructor(canvas: HTMLCanvasElement, onStroke: () => void) {
    this.canvas = canvas;
    const context = canvas.getContext('2d', { willReadFrequently: true });
    if (context === null) throw new Error('this browser gives no 2D canvas context.');
    this.context = context;
    this.clear();
    canvas.addEventListener('pointerdown', (event) => {
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      this.last = this.point(event);
      this.line(this.last, this.last);
    });
    canvas.addEventListener('pointermove', (event) => {
      if (this.last === undefined) return;
      const next = this.point(event);
      this.line(this.last, next);
      this.last = next;
    });
    const end = () => {
      if (this.last === undefined) return;
      this.last = undefined;
      this.strokes++;
      onStroke();
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
  }

  /** Whether anything was drawn since the last clear. */
  get empty(): boolean {
    return this.strokes === 0;
  }

  /** Blanks the pad. */
  clear(): void {
    this.context.fillStyle = '#000';
    this.context.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.strokes = 0;
    this.last = undefined;
  }

  /** Ink coverage per canvas pixel, in [0, 1], row-major. */
  ink(): Float32Array {
    const { width, height } = this.canvas;
    const rgba = this.context.getImageData(0, 0, width, height).data;
    const out = new Float32Array(width * height);
    for (let i = 0; i < out.length; i++) out[i] = rgba[i * 4] / 255;
    return out;
  }

  /** Shows a grey image (`size × size` in [0, 1]) over the whole pad, as the network's input. */
  show(pixels: Float32Array, size: number): void {
    const image = this.context.createImageData(size, size);
    for (let i = 0; i < size * size; i++) {
      const v = Math.round(pixels[i] * 255);
      image.data.set([v, v, v, 255], i * 4);
    }
    const tile = new OffscreenCanvas(size, size);
    tile.getContext('2d')!.putImageData(image, 0, 0);
    this.context.imageSmoothingEnabled = false;
    this.context.drawImage(tile, 0, 0, this.canvas.width, this.canvas.height);
    this.strokes = 0;
  }

  private point(event: PointerEvent): { x: number; y: number } {
    const rect = this.canvas.getBoundingClientRect();
    return { x: ((event.clientX - rect.left) * this.canvas.width) / rect.width, y: ((event.clientY - rect.top) * this.canvas.height) / rect.height };
  }

  private line(from: { x: number; y: number }, to: { x: number; y: number }): void {
    const c = this.context;
    c.strokeStyle = '#fff';
    c.lineWidth = this.canvas.width / 12;
    c.lineCap = 'round';
    c.lineJoin = 'round';
    c.beginPath();
    c.moveTo(from.x, from.y);
    c.lineTo(to.x, to.y);
    c.stroke();
  }
}
