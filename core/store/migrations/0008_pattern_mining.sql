-- Pattern mining (issue 10): each distinct normalised task text is embedded once, by one embedder.
--
-- `text_hash` is sha256 of "<embedder name>\0<normalised text>", so a change of embedder simply
-- misses the cache and re-embeds; the rows are derived data and may be deleted at any time.
CREATE TABLE task_text_vectors (
    text_hash TEXT PRIMARY KEY,
    embedder TEXT NOT NULL,
    vector BLOB NOT NULL,            -- float32 little-endian, L2-normalised
    created_at TEXT NOT NULL
);
