-- A version per memory scope, bumped by triggers whenever the embeddings recalled in that scope
-- change (an embedding added, replaced or removed; a memory deleted or moved to another scope).
-- Recall keeps each small scope's embeddings in memory as a matrix and reloads a scope only when its
-- version has moved, whichever process or connection made the change.
CREATE TABLE memory_scope_versions (
    scope_key TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER memory_embedding_added AFTER INSERT ON memory_embeddings BEGIN
    INSERT INTO memory_scope_versions (scope_key, version)
        SELECT scope_key, 1 FROM memories WHERE seq = NEW.seq
        ON CONFLICT (scope_key) DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER memory_embedding_changed AFTER UPDATE ON memory_embeddings BEGIN
    INSERT INTO memory_scope_versions (scope_key, version)
        SELECT scope_key, 1 FROM memories WHERE seq = NEW.seq
        ON CONFLICT (scope_key) DO UPDATE SET version = version + 1;
END;

-- An embedding removed on its own (its memory stays, to be embedded again).
CREATE TRIGGER memory_embedding_removed AFTER DELETE ON memory_embeddings BEGIN
    INSERT INTO memory_scope_versions (scope_key, version)
        SELECT scope_key, 1 FROM memories WHERE seq = OLD.seq
        ON CONFLICT (scope_key) DO UPDATE SET version = version + 1;
END;

-- BEFORE: the cascade deletes the embedding after the memory row is gone, when its scope is unknown.
CREATE TRIGGER memory_deleted BEFORE DELETE ON memories BEGIN
    INSERT INTO memory_scope_versions (scope_key, version) VALUES (OLD.scope_key, 1)
        ON CONFLICT (scope_key) DO UPDATE SET version = version + 1;
END;

CREATE TRIGGER memory_moved AFTER UPDATE OF scope_key ON memories WHEN OLD.scope_key <> NEW.scope_key BEGIN
    INSERT INTO memory_scope_versions (scope_key, version) VALUES (OLD.scope_key, 1)
        ON CONFLICT (scope_key) DO UPDATE SET version = version + 1;
    INSERT INTO memory_scope_versions (scope_key, version) VALUES (NEW.scope_key, 1)
        ON CONFLICT (scope_key) DO UPDATE SET version = version + 1;
END;
