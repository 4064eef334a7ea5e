-- Facts about the installation itself. First: `secret_key_check`, a value sealed with the
-- secret-encryption key, so a start with another key (a node given the wrong
-- HOOKLINE_SECRET_KEY_FILE) is refused before it stores secrets nobody else can open.
CREATE TABLE hookline_meta (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
) WITHOUT ROWID;
