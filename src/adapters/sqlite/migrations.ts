/**
 * Versioned schema migrations, applied in order inside one transaction each. Never edit a
 * released migration; add the next one.
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: "devices, certificates, tokens, audit log",
    sql: `
      CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        profile TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
        created_at INTEGER NOT NULL,
        revoked_at INTEGER,
        revocation_reason TEXT,
        last_seen_at INTEGER
      ) STRICT;

      CREATE TABLE certificates (
        serial TEXT PRIMARY KEY,
        device_id TEXT NOT NULL REFERENCES devices (id),
        pem TEXT NOT NULL,
        not_before INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'superseded', 'revoked')),
        issued_at INTEGER NOT NULL,
        revoked_at INTEGER,
        revocation_reason TEXT
      ) STRICT;
      CREATE INDEX certificates_by_device ON certificates (device_id);
      CREATE INDEX certificates_by_expiry ON certificates (not_after) WHERE status = 'active';

      CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        device_id TEXT,
        prefix TEXT,
        profile TEXT NOT NULL,
        uses_total INTEGER NOT NULL CHECK (uses_total > 0),
        uses_left INTEGER NOT NULL CHECK (uses_left >= 0),
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        revoked_at INTEGER,
        CHECK ((device_id IS NULL) <> (prefix IS NULL))
      ) STRICT;

      CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT,
        details TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      ) STRICT;
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
    `,
  },
  {
    version: 2,
    name: "CRL numbering",
    sql: `
      CREATE TABLE crl_state (
        issuer TEXT PRIMARY KEY,
        crl_number INTEGER NOT NULL,
        this_update INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX certificates_revoked ON certificates (revoked_at) WHERE status = 'revoked';
    `,
  },
  {
    version: 3,
    name: "operators",
    sql: `
      CREATE TABLE operators (
        serial TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        pem TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
        created_at INTEGER NOT NULL,
        not_after INTEGER NOT NULL,
        revoked_at INTEGER
      ) STRICT;
      CREATE INDEX operators_by_name ON operators (name);
    `,
  },
  {
    version: 4,
    name: "audit head row, stored CRL, health probe, device listing by status",
    sql: `
      -- Appends are serialized by this one row, updated in the same transaction as each insert:
      -- explicit, so a multi-writer database honours it too (not only SQLite's single writer).
      CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
      ) STRICT;
      INSERT INTO audit_head (id, seq, hash)
        SELECT 1, COALESCE((SELECT seq FROM audit_log ORDER BY seq DESC LIMIT 1), 0),
               COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), '${"0".repeat(64)}');
      ALTER TABLE crl_state ADD COLUMN der BLOB;
      CREATE TABLE health (id INTEGER PRIMARY KEY CHECK (id = 1), at INTEGER NOT NULL) STRICT;
      CREATE INDEX devices_by_status ON devices (status, id);
      CREATE INDEX certificates_inactive ON certificates (status) WHERE status != 'active';
      CREATE INDEX audit_by_subject ON audit_log (subject, seq);
      CREATE INDEX audit_by_action ON audit_log (action, seq);
    `,
  },
  {
    version: 5,
    name: "issuing CA of each certificate and operator, per-issuer CRL state, pruning superseded certificates",
    sql: `
      -- Everything issued before issuing-CA rollover came from the one issuing CA there was, which is
      -- ca-1 in pki/issuing-cas.json (the CA of a data dir without that file). SQLite cannot drop a
      -- column default without rebuilding the table: the registry always names the issuer anyway.
      ALTER TABLE certificates ADD COLUMN issuer TEXT NOT NULL DEFAULT 'ca-1';
      ALTER TABLE operators ADD COLUMN issuer TEXT NOT NULL DEFAULT 'ca-1';
      UPDATE crl_state SET issuer = 'ca-1' WHERE issuer = 'issuing';
      CREATE INDEX certificates_by_issuer ON certificates (issuer, not_after);
      CREATE INDEX certificates_inactive_by_issuer ON certificates (issuer, not_after) WHERE status != 'active';
      CREATE INDEX certificates_superseded ON certificates (not_after, serial) WHERE status = 'superseded';
    `,
  },
];
