/**
 * The decode rule and the input sizing under their earlier module name (losses.ts and tests import
 * them from here); they live in prepost.ts with the rest of the pre/post-processing.
 */
export { DECODE_DEFAULTS, decodeRule, decodeWithDefaults, tagPriorOffsets, inputSides, strideSide } from './prepost.js';
