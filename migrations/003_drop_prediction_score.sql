-- heatseg project schema v3: predictions lose the `score` column, which no build ever filled
-- (always NULL): acquisition scores are computed per request, not cached.
ALTER TABLE predictions DROP COLUMN score;
