-- V2: the two session_info columns of the reference core 12.1 (CHANGELOG 12.1.0), which CDI
-- 5.6's refresh-time rotation reads and every refresh writes: the hash the current refresh
-- token replaced, and when. A database where a Java 12.1 core already added them is left as
-- it is (IF NOT EXISTS). Placeholders as in V1.
ALTER TABLE __SCHEMA__.__PREFIX__session_info ADD COLUMN IF NOT EXISTS prev_refresh_token_hash_2 VARCHAR(128) NULL;
ALTER TABLE __SCHEMA__.__PREFIX__session_info ADD COLUMN IF NOT EXISTS refresh_token_rotated_at BIGINT NULL;
