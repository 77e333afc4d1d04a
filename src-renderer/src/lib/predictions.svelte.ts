/**
 * The latest model's prediction for the image on screen: fetched (predictions.get, cached per run
 * on the server), decoded once, and shown as overlays over the labels, the predicted mask in class
 * colours and the confidence as a heatmap, each toggled on its own (M, H). Also turns a prediction
 * into labels ("accept prediction") as one autosaved, undoable step.
 */
import type { ClassInfo, ImageSummary, PredictionWire } from '../../../src-shared/api';
import { applyPatch, fromBase64 } from '../../../src-shared/labels';
import type { AnnotationSession } from './annotation.svelte';
import { api, errorMessage } from './api';
import { inflateRaster } from './codec';
import { buildAcceptPatch, heatRgba, maskRgba, type OverlayLayer } from './overlay';

export interface LoadedPrediction {
  imageId: number;
  /** The completed run it was asked for (the panel's view of the latest model). */
  modelRunId: number;
  wire: PredictionWire;
  mask: Uint8Array;
  confidence: Uint8Array;
}

function toCanvas(rgba: Uint8ClampedArray<ArrayBuffer>, width: number, height: number): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d')!.putImageData(new ImageData(rgba, width, height), 0, 0);
  return canvas;
}

export class PredictionStore {
  /** Which overlays are on, and how opaque they are (0..1). */
  view = $state({ mask: false, heatmap: false, opacity: 0.6 });
  current = $state.raw<LoadedPrediction | null>(null);
  /** The image whose prediction is being fetched (the first one per image and run runs the model). */
  loadingFor = $state<number | null>(null);
  error = $state.raw<{ imageId: number; message: string } | null>(null);
  private seq = 0;
  // Canvases are built once per prediction and palette, not on every toggle; not reactive on purpose.
  private cache: { of: LoadedPrediction; palette: string; mask: HTMLCanvasElement | null; heat: HTMLCanvasElement | null } | null = null;

  /** Fetches the prediction of an image by the model of `modelRunId`, unless it is the one shown. */
  async load(imageId: number, modelRunId: number): Promise<void> {
    const cur = this.current;
    if (cur?.imageId === imageId && cur.modelRunId === modelRunId) return;
    const seq = ++this.seq;
    this.loadingFor = imageId;
    this.error = null;
    try {
      const wire = await api('predictions.get', { imageId });
      const [mask, confidence] = await Promise.all([
        inflateRaster(fromBase64(wire.mask), wire.width, wire.height, 'the predicted mask'),
        inflateRaster(fromBase64(wire.confidence), wire.width, wire.height, 'the confidence map'),
      ]);
      if (seq !== this.seq) return;
      this.current = { imageId, modelRunId, wire, mask, confidence };
    } catch (e) {
      if (seq === this.seq) this.error = { imageId, message: errorMessage(e) };
    } finally {
      if (seq === this.seq) this.loadingFor = null;
    }
  }

  /** Drops what is shown (no model any more, another project). */
  forget(): void {
    this.seq++;
    this.current = null;
    this.cache = null;
    this.loadingFor = null;
    this.error = null;
  }

  /** The prediction of this image, if it is the one loaded. */
  of(imageId: number): LoadedPrediction | null {
    const cur = this.current;
    return cur?.imageId === imageId ? cur : null;
  }

  /** The overlays to draw over an image: none unless its prediction is loaded and an overlay is on. */
  layers(imageId: number, classes: ClassInfo[]): OverlayLayer[] {
    const cur = this.of(imageId);
    const { mask, heatmap, opacity } = this.view;
    if (!cur || (!mask && !heatmap)) return [];
    const palette = classes.map((c) => `${c.labelValue}:${c.color}`).join(',');
    if (this.cache?.of !== cur || this.cache.palette !== palette) this.cache = { of: cur, palette, mask: null, heat: null };
    const c = this.cache;
    const { width, height } = cur.wire;
    const out: OverlayLayer[] = [];
    if (heatmap) {
      c.heat ??= toCanvas(heatRgba(cur.confidence), width, height);
      out.push({ key: 'heatmap', canvas: c.heat, opacity });
    }
    if (mask) {
      c.mask ??= toCanvas(maskRgba(cur.mask, classes), width, height);
      out.push({ key: 'mask', canvas: c.mask, opacity });
    }
    return out;
  }

  /**
   * Labels every unlabelled pixel of the image with the predicted class: one patch (255 where a
   * pixel is labelled already) through the autosave queue, recorded as one undo step. Returns the
   * number of pixels labelled (0: nothing to do).
   */
  async accept(session: AnnotationSession, item: ImageSummary): Promise<number> {
    const pred = this.of(item.id);
    if (!pred) throw new Error('no prediction is loaded for this image');
    const { width, height } = item;
    if (pred.wire.width !== width || pred.wire.height !== height) {
      throw new Error(`the prediction is ${pred.wire.width} × ${pred.wire.height} px but the image is ${width} × ${height} px`);
    }
    // The labels as they are now: the server's, plus strokes not confirmed yet.
    const stored = await api('labels.get', { imageId: item.id });
    const labels =
      stored.revision === 0 ? new Uint8Array(width * height) : await inflateRaster(fromBase64(stored.data), width, height, 'the label raster');
    for (const job of session.queue.pendingFor(item.id)) applyPatch(labels, width, height, job.rect, job.patch);
    // The prediction mapped to the classes as they are now (one deleted since it was shown refuses).
    const fresh = await api('predictions.get', { imageId: item.id });
    if (fresh.runId !== pred.wire.runId) throw new Error(`a newer model (run ${fresh.runId}) was trained since this prediction was shown: look at its prediction first`);
    const mask = await inflateRaster(fromBase64(fresh.mask), width, height, 'the predicted mask');
    const patch = buildAcceptPatch(labels, mask, width, height);
    if (!patch) return 0;
    const imageId = item.id;
    const label = 'Accept prediction';
    const send = (data: Uint8Array, what: string) => session.queue.enqueue({ imageId, rect: patch.rect, patch: data, data: '', label: what });
    // The open canvas reloads its labels once the patch is stored (it reapplies what is still pending).
    const reload = () => void session.queue.idle().then(() => session.labelsVersion++);
    send(patch.after, label);
    session.histories.of(imageId).push({
      label,
      undo: () => (send(patch.before, `Undo of ${label.toLowerCase()}`), reload()),
      redo: () => (send(patch.after, `Redo of ${label.toLowerCase()}`), reload()),
    });
    session.historyVersion++;
    reload();
    return patch.count;
  }
}

export const predictions = new PredictionStore();
