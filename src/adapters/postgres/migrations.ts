import { GENESIS_HASH } from "../../domain/audit-chain.js";

/**
 * Versioned schema migrations, applied in order on open (src/adapters/postgres/migrate.ts). Never edit a
 * released migration; add the next one. The tables mean what the SQLite schema's mean
 * (src/adapters/sqlite/migrations.ts); version 1 is that schema as it stands at its version 4.
 *
 * Every instant is epoch ms in BIGINT. Identifiers that are compared or sorted are COLLATE "C": byte
 * order, as SQLite's BINARY, so device listing pages the same whichever registry runs, and the primary
 * key index answers `id > cursor` and prefix ranges whatever the database's default collation.
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: "devices, certificates, tokens, operators, audit log and head, CRL state, health probe",
    sql: `
      CREATE TABLE devices (
        id TEXT COLLATE "C" PRIMARY KEY,
        role TEXT NOT NULL,
        profile TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
        created_at BIGINT NOT NULL,
        revoked_at BIGINT,
        revocation_reason TEXT,
        last_seen_at BIGINT
      );
      CREATE INDEX devices_by_status ON devices (status, id);

      CREATE TABLE certificates (
        serial TEXT COLLATE "C" PRIMARY KEY,
        device_id TEXT COLLATE "C" NOT NULL REFERENCES devices (id),
        pem TEXT NOT NULL,
        not_before BIGINT NOT NULL,
        not_after BIGINT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'superseded', 'revoked')),
        issued_at BIGINT NOT NULL,
        revoked_at BIGINT,
        revocation_reason TEXT
      );
      CREATE INDEX certificates_by_device ON certificates (device_id);
      CREATE INDEX certificates_by_expiry ON certificates (not_after) WHERE status = 'active';
      CREATE INDEX certificates_revoked ON certificates (revoked_at, serial)
        WHERE status <> 'active' AND revoked_at IS NOT NULL;

      CREATE TABLE tokens (
        id TEXT COLLATE "C" PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        device_id TEXT COLLATE "C",
        prefix TEXT COLLATE "C",
        profile TEXT NOT NULL,
        uses_total INTEGER NOT NULL CHECK (uses_total > 0),
        uses_left INTEGER NOT NULL CHECK (uses_left >= 0),
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT,
        CHECK ((device_id IS NULL) <> (prefix IS NULL))
      );

      CREATE TABLE operators (
        serial TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL,
        pem TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
        created_at BIGINT NOT NULL,
        not_after BIGINT NOT NULL,
        revoked_at BIGINT
      );
      CREATE INDEX operators_by_name ON operators (name);

      -- details is JSON (text kept as written), not JSONB: JSONB refuses a \\u0000 escape that JSON.stringify
      -- may produce, and nothing queries inside it. The hash covers canonical JSON, not this text.
      CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT COLLATE "C",
        details JSON NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX audit_by_subject ON audit_log (subject, seq);
      CREATE INDEX audit_by_action ON audit_log (action, seq);
      CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
      CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

      -- Appends from every node are serialized by locking this one row in the unit that inserts.
      CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
      );
      INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${GENESIS_HASH}');

      CREATE TABLE crl_state (
        issuer TEXT COLLATE "C" PRIMARY KEY,
        crl_number BIGINT NOT NULL,
        this_update BIGINT NOT NULL,
        der BYTEA
      );

      CREATE TABLE health (id INTEGER PRIMARY KEY CHECK (id = 1), at BIGINT NOT NULL);
    `,
  },
  {
    version: 2,
    name: "issuing CA of each certificate and operator, per-issuer CRL state, pruning superseded certificates",
    sql: `
      -- As SQLite's version 5: what was issued before issuing-CA rollover came from ca-1. The default only
      -- fills the existing rows; every insert names its issuer.
      ALTER TABLE certificates ADD COLUMN issuer TEXT COLLATE "C" NOT NULL DEFAULT 'ca-1';
      ALTER TABLE certificates ALTER COLUMN issuer DROP DEFAULT;
      ALTER TABLE operators ADD COLUMN issuer TEXT COLLATE "C" NOT NULL DEFAULT 'ca-1';
      ALTER TABLE operators ALTER COLUMN issuer DROP DEFAULT;
      UPDATE crl_state SET issuer = 'ca-1' WHERE issuer = 'issuing';
      CREATE INDEX certificates_by_issuer ON certificates (issuer, not_after);
      CREATE INDEX certificates_inactive_by_issuer ON certificates (issuer, not_after) WHERE status <> 'active';
      CREATE INDEX certificates_superseded ON certificates (not_after, serial) WHERE status = 'superseded';
    `,
  },
];
