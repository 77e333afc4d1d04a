-- heatseg project schema v1: classes, images, image-level tags, sparse pixel labels.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE classes (
  id            INTEGER PRIMARY KEY,
  name          TEXT    NOT NULL UNIQUE COLLATE NOCASE CHECK (length(trim(name)) > 0),
  color         TEXT    NOT NULL CHECK (color GLOB '#[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]'),
  position      INTEGER NOT NULL,
  -- value written into label rasters; stable across renames/reorders. 0 = unlabelled (never background).
  label_value   INTEGER NOT NULL UNIQUE CHECK (label_value BETWEEN 1 AND 254),
  is_background INTEGER NOT NULL DEFAULT 0 CHECK (is_background IN (0, 1))
);

CREATE TABLE images (
  id            INTEGER PRIMARY KEY,
  hash          TEXT    NOT NULL,                  -- sha256 of the file bytes
  file_name     TEXT    NOT NULL,                  -- stored as images/<file_name> inside the project
  original_name TEXT    NOT NULL,
  width         INTEGER NOT NULL CHECK (width > 0),
  height        INTEGER NOT NULL CHECK (height > 0),
  status        TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'excluded')),
  thumbnail     BLOB,
  added_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
-- Re-importing an image is a no-op; the same bytes under another name are another image (datasets
-- such as MSRC hold identical photos with different masks under two names).
CREATE UNIQUE INDEX images_identity ON images (hash, original_name);

CREATE TABLE image_tags (
  image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  class_id INTEGER NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
  PRIMARY KEY (image_id, class_id)
) WITHOUT ROWID;
CREATE INDEX image_tags_class ON image_tags (class_id);

-- One sparse label raster per image: zlib-compressed uint8, row-major, value = classes.label_value, 0 = unlabelled.
CREATE TABLE label_rasters (
  image_id        INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
  width           INTEGER NOT NULL,
  height          INTEGER NOT NULL,
  encoding        TEXT    NOT NULL DEFAULT 'zlib-u8' CHECK (encoding IN ('zlib-u8')),
  data            BLOB    NOT NULL,
  labelled_pixels INTEGER NOT NULL,
  revision        INTEGER NOT NULL DEFAULT 1,
  updated_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- Per-class labelled pixel counts, kept in step with label_rasters in the same transaction.
CREATE TABLE label_counts (
  image_id INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
  class_id INTEGER NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
  pixels   INTEGER NOT NULL CHECK (pixels > 0),
  PRIMARY KEY (image_id, class_id)
) WITHOUT ROWID;
CREATE INDEX label_counts_class ON label_counts (class_id);
