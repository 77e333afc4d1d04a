-- heatseg project schema v2: training runs (model checkpoints live in models/<run id>/) and cached predictions.
CREATE TABLE runs (
  id             INTEGER PRIMARY KEY,
  status         TEXT    NOT NULL CHECK (status IN ('running', 'completed', 'cancelled', 'failed')),
  method         TEXT    NOT NULL,
  backbone       TEXT    NOT NULL,
  backend        TEXT,
  config         TEXT    NOT NULL DEFAULT '{}',   -- JSON
  metrics        TEXT,                            -- JSON
  checkpoint_dir TEXT,                            -- relative to the project folder
  error          TEXT,
  created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  finished_at    TEXT
);

CREATE TABLE predictions (
  run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
  image_id   INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  tag_probs  TEXT    NOT NULL,   -- JSON {classIds (decoded classes), tagProbs {class_id: probability}, width, height}
  mask       BLOB,               -- zlib u8 raster of label values (argmax over the decoded classes)
  heatmaps   BLOB,               -- zlib u8 raster of the winning class's confidence (heatmaps_format 'confidence-u8')
  heatmaps_format TEXT,
  score      REAL,               -- unused (always NULL): acquisition scores are computed per request, not cached
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  PRIMARY KEY (run_id, image_id)
) WITHOUT ROWID;
