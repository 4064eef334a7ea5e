-- Facts about the installation itself (SQLite's 0007): `secret_key_check`, sealed with the
-- secret-encryption key every node must share.
CREATE TABLE hookline_meta (
    name   TEXT PRIMARY KEY,
    value  BYTEA NOT NULL
);
