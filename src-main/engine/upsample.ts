/** upsampleSoftmax under its earlier module name; it lives in prepost.ts with the rest of the pre/post-processing. */
export { type Upsampled, upsampleSoftmax } from './prepost.js';
