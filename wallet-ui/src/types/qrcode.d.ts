/**
 * The part of the `qrcode` package's browser API the wallet uses (drawing on a canvas), typed for browser code alone:
 * the package's own @types/qrcode references Node's types (for its file and stream output), which the browser
 * project (wallet-ui/src/tsconfig.json) compiles without. The signature follows @types/qrcode's `toCanvas`.
 */
export interface QRCodeRenderersOptions {
  errorCorrectionLevel?: 'low' | 'medium' | 'quartile' | 'high' | 'L' | 'M' | 'Q' | 'H';
  /** Quiet zone, in modules. */
  margin?: number;
  /** Width of the image, in pixels. */
  width?: number;
  /** Colours as #RRGGBB or #RRGGBBAA. */
  color?: { dark?: string; light?: string };
}

/** Draws the QR code of `text` on `canvas`. */
export function toCanvas(canvas: HTMLCanvasElement, text: string, options?: QRCodeRenderersOptions): Promise<void>;

declare const QRCode: { toCanvas: typeof toCanvas };
export default QRCode;
