/**
 * The runs/predictions stage of the store: training run rows (their model folders live in
 * models/run-N/, epoch checkpoints in models/run-N.checkpoint/) and the cache of a run's
 * predictions for the overlays.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ApiError } from '../../src-shared/api.js';
import { readJsonFile } from '../json-file.js';
import { MODELS_DIR, type Connection } from './connection.js';

/** A run's epoch checkpoints: `models/run-N.checkpoint`, beside (never inside) its model folder. */
export const CHECKPOINT_SUFFIX = '.checkpoint';

export interface RunRow {
  id: number;
  status: 'running' | 'completed' | 'cancelled' | 'failed';
  method: string;
  backbone: string;
  backend: string | null;
  config: string;
  metrics: string | null;
  checkpoint_dir: string | null;
  error: string | null;
  created_at: string;
  finished_at: string | null;
}

export interface PredictionRow {
  run_id: number;
  image_id: number;
  /** JSON, src-main/api/prediction-map.ts CachedPredictionMeta (the mask holds model class indices). */
  tag_probs: string;
  mask: Buffer | Uint8Array | null;
  heatmaps: Buffer | Uint8Array | null;
  heatmaps_format: string | null;
  created_at: string;
}

export class RunStore {
  private readonly db;
  private readonly dir: string;
  constructor(conn: Connection) {
    this.db = conn.db;
    this.dir = conn.dir;
  }

  // ---- training runs ----

  createRun(method: string, backbone: string, config: unknown): RunRow {
    const id = Number(
      this.db
        .prepare("INSERT INTO runs (status, method, backbone, config) VALUES ('running', ?, ?, ?)")
        .run(method, backbone, JSON.stringify({ ...(config as object), pid: process.pid })).lastInsertRowid,
    );
    const dir = `${MODELS_DIR}/run-${id}`;
    this.db.prepare('UPDATE runs SET checkpoint_dir = ? WHERE id = ?').run(dir, id);
    return this.run(id);
  }

  run(id: number): RunRow {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
    if (!row) throw new ApiError('not_found', `no training run ${id} in ${this.dir}`);
    return row;
  }

  runs(): RunRow[] {
    return this.db.prepare('SELECT * FROM runs ORDER BY id DESC').all() as RunRow[];
  }

  /**
   * The weights `heatseg train --resume N` starts from: run N's model folder when it has one
   * (completed or cancelled), else the last epoch checkpoint of a run that did not finish (killed,
   * crashed, failed). Also the run's config, so a resume can continue it. ApiError when neither.
   */
  resumeSource(id: number): { dir: string; checkpoint: { epoch: number; step: number } | null; config: Record<string, unknown> } {
    const run = this.run(id);
    let config: Record<string, unknown> = {};
    try {
      config = JSON.parse(run.config) as Record<string, unknown>;
    } catch {
      // an unreadable config: resume with the command's own options
    }
    const modelDir = run.checkpoint_dir ?? `${MODELS_DIR}/run-${id}`;
    if (fs.existsSync(path.join(this.dir, modelDir, 'heatseg-model.json'))) return { dir: modelDir, checkpoint: null, config };
    const ckpt = `${MODELS_DIR}/run-${id}${CHECKPOINT_SUFFIX}`;
    const meta = path.join(this.dir, ckpt, 'heatseg-model.json');
    if (fs.existsSync(meta)) {
      let checkpoint = { epoch: 0, step: 0 };
      try {
        const m = readJsonFile(meta) as { training?: { checkpoint?: { epoch?: number; step?: number } } };
        checkpoint = { epoch: m.training?.checkpoint?.epoch ?? 0, step: m.training?.checkpoint?.step ?? 0 };
      } catch {
        // the weights may still load; the epoch count is unknown
      }
      return { dir: ckpt, checkpoint, config };
    }
    throw new ApiError(
      'not_found',
      `run ${id} (${run.status}) has no saved weights to resume from: it ended before its first epoch finished` + (run.status === 'running' ? ' or is still training' : ''),
    );
  }

  /** Latest completed run (the project's current segmenter). */
  latestCompletedRun(): RunRow | undefined {
    return this.db.prepare("SELECT * FROM runs WHERE status = 'completed' ORDER BY id DESC LIMIT 1").get() as RunRow | undefined;
  }

  finishRun(id: number, status: 'completed' | 'cancelled' | 'failed', fields: { backend?: string; metrics?: unknown; error?: string; keepCheckpoint?: boolean }): void {
    this.db
      .prepare(
        `UPDATE runs SET status = ?, backend = COALESCE(?, backend), metrics = ?, error = ?,
           checkpoint_dir = CASE WHEN ? THEN checkpoint_dir ELSE NULL END,
           finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?`,
      )
      .run(status, fields.backend ?? null, fields.metrics === undefined ? null : JSON.stringify(fields.metrics), fields.error ?? null, fields.keepCheckpoint ? 1 : 0, id);
  }

  /** Runs left 'running' by a process that no longer exists (killed, crashed) become 'failed'. */
  markInterruptedRuns(): number {
    let n = 0;
    for (const r of this.db.prepare("SELECT id, config FROM runs WHERE status = 'running'").all() as Array<{ id: number; config: string }>) {
      let pid: number;
      try {
        pid = (JSON.parse(r.config) as { pid?: number }).pid ?? 0;
      } catch {
        pid = 0;
      }
      let alive = false;
      if (pid && pid !== process.pid) {
        try {
          process.kill(pid, 0);
          alive = true;
        } catch {
          alive = false;
        }
      }
      if (!alive && pid !== process.pid) {
        const ckpt = fs.existsSync(path.join(this.dir, `${MODELS_DIR}/run-${r.id}${CHECKPOINT_SUFFIX}`, 'heatseg-model.json'));
        this.finishRun(r.id, 'failed', {
          error: `interrupted: the process training it ended before it finished${ckpt ? `; its last epoch checkpoint is kept: continue it with \`heatseg train ${this.dir} --resume ${r.id}\`` : ''}`,
        });
        n++;
      }
    }
    return n;
  }

  // ---- predictions (cache of a run's outputs for the overlays) ----

  prediction(runId: number, imageId: number): PredictionRow | undefined {
    return this.db.prepare('SELECT * FROM predictions WHERE run_id = ? AND image_id = ?').get(runId, imageId) as PredictionRow | undefined;
  }

  putPrediction(row: Omit<PredictionRow, 'created_at'>): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO predictions (run_id, image_id, tag_probs, mask, heatmaps, heatmaps_format)
         VALUES (@run_id, @image_id, @tag_probs, @mask, @heatmaps, @heatmaps_format)`,
      )
      .run(row);
  }
}
