/** Segmentation models: LRP (tied-weight explanation decoder), Grad-CAM, U-Net, multi-task U-Net. */
export type {
  EncodedBatch,
  EncoderLayer,
  EncoderSpec,
  ForwardOptions,
  ForwardResult,
  SegMethod,
  Segmenter,
  SegmenterConfig,
  WeightEntry,
  WeightMap,
} from './types.js';
export { downsamples, specStride } from './types.js';
export {
  buildSegmenter,
  createSegmenter,
  loadSegmenter,
  parseSegmenterConfig,
  segmenterConfigSchema,
  type CreateSegmenterOptions,
  type EncoderChoice,
} from './segmenter.js';
export { Encoder, smallEncoderSpec, type EncoderTrace, type SmallEncoderOptions } from './encoder.js';
export {
  importKerasBackbone,
  kerasBackboneFromTopology,
  readLayersModelFolder,
  SUPPORTED_KERAS_LAYERS,
  type KerasBackbone,
} from './keras-import.js';
export {
  DEFAULT_LRP_POOL,
  DEFAULT_LRP_RULE,
  DEFAULT_LRP_TOP_RELEVANCE,
  LRP_ALPHA,
  LRP_BETA,
  LRP_EPSILON,
  LRP_POOL_RULES,
  LRP_RULES,
  layerRules,
  lrpDecode,
  type LrpLayerRule,
  type LrpPoolRule,
  type LrpRuleName,
  type LrpTrace,
} from './lrp.js';
export { gradcamDecode } from './gradcam.js';
export { UNetDecoder } from './unet.js';
