import { createRequire } from 'node:module';
import fs from 'node:fs';
const { onnx } = createRequire(import.meta.url)('onnx-proto');
const p = onnx.ModelProto.decode(fs.readFileSync(process.argv[2]));
for (const n of p.graph.node) console.log(n.opType, n.input.join(','), '->', n.output.join(','));
