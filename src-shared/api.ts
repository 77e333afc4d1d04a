/**
 * The one API contract: every operation the UI (or a test) can ask for, with its input schema.
 * Both transports (Electron IPC via the preload bridge, and the browser-mode HTTP server) carry
 * exactly these operations to the same handlers; inputs are validated here, at the boundary.
 * Pure TypeScript: no Node, no DOM.
 */
import { z } from 'zod';
import { STRATEGIES } from './acquisition.js';

const id = z.number().int().positive();
const color = z
  .string()
  .regex(/^#[0-9a-fA-F]{6}$/, 'colour must look like #rrggbb')
  .transform((s) => s.toLowerCase());
const className = z.string().trim().min(1, 'class name is empty').max(64, 'class name longer than 64 characters');
const pathString = z.string().min(1, 'path is empty').max(4096);
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64');

export interface ClassInfo {
  id: number;
  name: string;
  color: string;
  position: number;
  labelValue: number;
  isBackground: boolean;
}

export interface ImageSummary {
  id: number;
  originalName: string;
  width: number;
  height: number;
  status: 'active' | 'excluded';
  tags: number[];
  labelledPixels: number;
}

export interface ImagePage {
  total: number;
  offset: number;
  items: ImageSummary[];
}

export interface ProjectSummary {
  path: string;
  name: string;
  schemaVersion: number;
  images: number;
  taggedImages: number;
  labelledImages: number;
  classes: Array<ClassInfo & { taggedImages: number; labelledPixels: number }>;
}

export interface ImportReport {
  imported: number;
  duplicates: number;
  skipped: Array<{ file: string; reason: string }>;
  classesCreated: string[];
  labelledImages: number;
  /** Things done besides importing that the user should hear about (e.g. leftovers cleaned). */
  notices?: string[];
}

export interface ExportReport {
  out: string;
  format: 'maskfolder' | 'coco';
  images: number;
  files: number;
}

/** A label raster on the wire: zlib-compressed uint8 (value = ClassInfo.labelValue, 0 = unlabelled), base64. */
export interface LabelRasterWire {
  imageId: number;
  width: number;
  height: number;
  revision: number;
  data: string;
}

export interface RunInfo {
  id: number;
  status: 'running' | 'completed' | 'cancelled' | 'failed';
  method: string;
  backbone: string;
  backend: string | null;
  metrics: unknown;
  error: string | null;
  createdAt: string;
  finishedAt: string | null;
}

/** The app's training state machine: idle → preparing → training → done | cancelled | failed. */
export interface TrainStatus {
  state: 'idle' | 'preparing' | 'training' | 'done' | 'cancelled' | 'failed';
  runId: number | null;
  backend: string | null;
  /** Data-parallel training threads of the run (null before it starts). */
  threads: number | null;
  epoch: number;
  step: number;
  totalSteps: number | null;
  etaSec: number | null;
  imagesPerSec: number | null;
  /** Loss history per step, split into the tag loss and the heatmap loss. */
  losses: Array<{ step: number; tag: number; heat: number }>;
  uniformHeatLoss: number | null;
  message: string | null;
}

/** A model's prediction for one image (cached per run in the project). */
export interface PredictionWire {
  runId: number;
  imageId: number;
  width: number;
  height: number;
  /** zlib + base64 uint8 raster of label values (ClassInfo.labelValue) — the predicted mask. */
  mask: string;
  /** zlib + base64 uint8 raster: probability of the predicted class, 0..255. */
  confidence: string;
  /** Class ids the decoder showed, and the tag head's probability per class id. */
  classIds: number[];
  tagProbs: Record<number, number>;
}

export interface SuggestResult {
  strategy: string;
  runId: number;
  candidates: number;
  suggestions: Array<{ id: number; name: string; score: number; reason: string }>;
}

/** The evaluation view: the latest model against the project's pixel labels (ground truth). */
export interface EvalReport {
  runId: number;
  /**
   * What the headline (images … cells) measures: 'held-out', the labelled images the run kept out
   * of training; 'training', every labelled image (the run held none out), labels it trained on.
   */
  scope: 'held-out' | 'training';
  /** Images with pixel labels that were compared. */
  images: number;
  /** Matrix order: the project's classes. */
  classes: Array<{ id: number; name: string; color: string }>;
  miou: number | null;
  pixelAccuracy: number | null;
  /** IoU per class (null: the class is in neither truth nor prediction). */
  perClass: Array<number | null>;
  /** Pixels, [truth][predicted]. */
  confusion: number[][];
  /** The same with the image tags given (how well the heatmaps segment when the classes are known). */
  givenTags: { miou: number | null; perClass: Array<number | null> } | null;
  tagAccuracy: number | null;
  /** Tag mAP over the compared images (mean over classes tagged on any of them of the tag head's average precision). */
  tagMap: number | null;
  /** Per project class: tag AP (null: no compared image carries the tag) and accuracy of the p ≥ 0.5 decision. */
  tagPerClass: Array<{ ap: number | null; accuracy: number | null }> | null;
  /** Non-empty cells (class indices) with the images holding most of their pixels. */
  cells: Array<{ truth: number; predicted: number; images: Array<{ id: number; name: string; pixels: number }> }>;
  /** With a held-out headline: the score on the labelled images the run trained on (optimistic). */
  trainingSet: { images: number; miou: number | null; pixelAccuracy: number | null } | null;
  /** Labelled images in neither set (labelled after the run): not counted. */
  notCounted: number;
  /** The run's validation fraction (null: it recorded no split). */
  valFraction: number | null;
  backend: string;
}

/** A folder's sub-folders (names only: no files), for browser mode's folder chooser. */
export interface FolderListing {
  /** The folder listed (absolute). */
  path: string;
  /** Its parent; null at the root. */
  parent: string | null;
  folders: string[];
  /** More sub-folders than listed. */
  truncated: boolean;
}

export interface AppInfo {
  version: string;
  transport: 'ipc' | 'http';
  project: string | null;
  recent: string[];
}

export const labelPatchSchema = z.object({
  imageId: id,
  x: z.number().int().nonnegative(),
  y: z.number().int().nonnegative(),
  width: z.number().int().positive().max(65536),
  height: z.number().int().positive().max(65536),
  /** zlib-compressed uint8 patch, base64; 255 = leave pixel unchanged, 0 = erase, else a label value. */
  data: base64,
});
export type LabelPatch = z.infer<typeof labelPatchSchema>;

interface Op<I extends z.ZodType, O> {
  input: I;
  binary: boolean;
  /** Largest request body (JSON bytes) a transport accepts for it; DEFAULT_MAX_BODY unless set. */
  maxBody: number;
  /** Phantom: the output type, never set at run time. */
  output?: O;
}
const MiB = 1024 * 1024;
/** Every operation but the label writes and bulk tagging takes paths, ids and small options. */
export const DEFAULT_MAX_BODY = 1 * MiB;
/**
 * Label writes (zlib + base64 rasters): 32 MiB holds a whole 16384² raster (the import pixel limit)
 * whose runs average ≥ ~33 pixels, many times the largest stroke or accepted prediction seen.
 */
const LABELS_MAX_BODY = 32 * MiB;
function op<O>() {
  return <I extends z.ZodType>(input: I, opts: { binary?: boolean; maxBody?: number } = {}): Op<I, O> => ({
    input,
    binary: opts.binary ?? false,
    maxBody: opts.maxBody ?? DEFAULT_MAX_BODY,
  });
}
const none = z.object({}).strict();

export const contract = {
  'app.info': op<AppInfo>()(none),
  'project.create': op<ProjectSummary>()(z.object({ path: pathString }).strict()),
  'project.open': op<ProjectSummary>()(z.object({ path: pathString }).strict()),
  'project.openDemo': op<ProjectSummary>()(none),
  'project.summary': op<ProjectSummary>()(none),
  'classes.list': op<ClassInfo[]>()(none),
  'classes.add': op<ClassInfo>()(z.object({ name: className, color: color.optional(), isBackground: z.boolean().optional() }).strict()),
  'classes.update': op<ClassInfo>()(
    z.object({ id, name: className.optional(), color: color.optional(), position: z.number().int().nonnegative().optional() }).strict(),
  ),
  'classes.remove': op<{ removedLabelPixels: number; removedTags: number }>()(z.object({ id }).strict()),
  'images.list': op<ImagePage>()(
    z
      .object({
        offset: z.number().int().nonnegative().default(0),
        limit: z.number().int().positive().max(1000).default(100),
        classId: id.optional(),
        filter: z.enum(['all', 'untagged', 'tagged', 'labelled', 'unlabelled']).default('all'),
      })
      .strict(),
  ),
  'images.get': op<ImageSummary>()(z.object({ id }).strict()),
  'images.thumbnail': op<Uint8Array>()(z.object({ id }).strict(), { binary: true }),
  'images.bytes': op<Uint8Array>()(z.object({ id }).strict(), { binary: true }),
  'images.import': op<ImportReport>()(
    z
      .object({
        source: pathString,
        masks: z.union([z.boolean(), pathString]).default(true),
        labels: z.union([z.boolean(), pathString]).default(true),
      })
      .strict(),
  ),
  'tags.set': op<ImageSummary>()(z.object({ imageId: id, classIds: z.array(id).max(254) }).strict()),
  'tags.toggle': op<ImageSummary>()(z.object({ imageId: id, classId: id, on: z.boolean() }).strict()),
  /** One class's tag on (or off) for many images at once, in one transaction: grid bulk tagging. `changedIds`: the images it changed (what undo reverts). */
  'tags.bulk': op<{ changed: number; changedIds: number[] }>()(
    z.object({ imageIds: z.array(id).min(1).max(100_000), classId: id, on: z.boolean() }).strict(),
    // 100,000 ids of up to 10 digits each, with separators
    { maxBody: 2 * MiB },
  ),
  'labels.get': op<LabelRasterWire>()(z.object({ imageId: id }).strict()),
  'labels.put': op<{ revision: number; labelledPixels: number }>()(
    z.object({ imageId: id, width: z.number().int().positive(), height: z.number().int().positive(), data: base64 }).strict(),
    { maxBody: LABELS_MAX_BODY },
  ),
  'labels.patch': op<{ revision: number; labelledPixels: number }>()(labelPatchSchema.strict(), { maxBody: LABELS_MAX_BODY }),
  /** Browser mode's folder chooser (Electron uses its dialog): absolute paths only; default the project folder. */
  'folders.list': op<FolderListing>()(z.object({ path: pathString.optional() }).strict()),
  'export.labels': op<ExportReport>()(
    z.object({ out: pathString, format: z.enum(['maskfolder', 'coco']).default('maskfolder') }).strict(),
  ),
  'train.start': op<TrainStatus>()(
    z
      .object({
        method: z.enum(['lrp', 'gradcam', 'unet', 'mtunet']).default('lrp'),
        /** A shipped backbone's name ('darknet-tiny', the default: ImageNet-pretrained, in the app's resources), 'small' (from scratch) or a TF.js layers model folder. */
        backbone: z.string().min(1).max(4096).default('darknet-tiny'),
        epochs: z.number().int().positive().max(10000).optional(),
        minutes: z.number().positive().max(7 * 24 * 60).optional(),
        size: z.number().int().min(32).max(1024).multipleOf(16).default(128),
        backend: z.enum(['tensorflow', 'webgpu', 'wasm', 'cpu']).optional(),
        /** Data-parallel training threads (default: the machine's physical cores). */
        threads: z.number().int().min(1).max(256).optional(),
        seed: z.number().int().nonnegative().default(1),
        /** Part of the pixel-labelled images held out of training for evaluation (when ≥ 5 are labelled). */
        valFraction: z.number().min(0).max(0.9).default(0.2),
      })
      .strict(),
  ),
  'train.cancel': op<TrainStatus>()(none),
  'train.status': op<TrainStatus>()(none),
  'runs.list': op<RunInfo[]>()(none),
  'model.export': op<{ runId: number; format: 'heatseg' | 'onnx'; out: string }>()(
    z.object({ out: pathString, format: z.enum(['heatseg', 'onnx']).default('heatseg'), runId: id.optional() }).strict(),
  ),
  'predictions.get': op<PredictionWire>()(z.object({ imageId: id }).strict()),
  'eval.run': op<EvalReport>()(z.object({}).strict()),
  'suggest.list': op<SuggestResult>()(
    z
      .object({
        strategy: z.enum(STRATEGIES).default('coverage'),
        n: z.number().int().positive().max(1000).default(10),
      })
      .strict(),
  ),
} as const;

export type Contract = typeof contract;
export type Method = keyof Contract;
export type Input<M extends Method> = z.input<Contract[M]['input']>;
export type ParsedInput<M extends Method> = z.output<Contract[M]['input']>;
export type Output<M extends Method> = NonNullable<Contract[M]['output']>;

/** What the renderer (and tests) call: one async function per operation. */
export type ApiClient = <M extends Method>(method: M, input: Input<M>) => Promise<Output<M>>;

export const methods = Object.keys(contract) as Method[];

export function isMethod(name: string): name is Method {
  return Object.prototype.hasOwnProperty.call(contract, name);
}

/** The largest request body accepted for an operation, in bytes. */
export function maxBody(method: Method): number {
  return contract[method].maxBody;
}

/** Error that crosses the transport with a stable code and a human message. */
export class ApiError extends Error {
  constructor(
    readonly code: 'invalid_input' | 'not_found' | 'conflict' | 'no_project' | 'io' | 'unsupported' | 'internal',
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function parseInput<M extends Method>(method: M, input: unknown): ParsedInput<M> {
  const result = contract[method].input.safeParse(input ?? {});
  if (!result.success) {
    const detail = result.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; ');
    throw new ApiError('invalid_input', `${method}: ${detail}`);
  }
  return result.data as ParsedInput<M>;
}

/** Events pushed from the main side (progress of long work). */
export type AppEvent =
  | { type: 'progress'; task: string; done: number; total: number; message?: string }
  | { type: 'project-changed'; path: string | null }
  | { type: 'train'; status: TrainStatus };
