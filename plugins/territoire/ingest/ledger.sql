-- The ingestion ledger: one row per load (batch) and the quarantine of the rows a batch refused.
-- Run by ledger.ensure_ingest_tables at every Loader start: every statement is idempotent.

create schema if not exists ingest;
create schema if not exists raw;
create table if not exists ingest.load_batches (
    batch_id       bigserial primary key,
    source_id      text not null,
    resource       text not null,
    raw_table      text not null,
    location       text,
    landing_path   text,
    file_sha256    text,
    file_size      bigint,
    rows_read      bigint,
    rows_loaded    bigint,
    rows_rejected  bigint,
    status         text not null check (status in ('running', 'succeeded', 'failed', 'skipped_unchanged')),
    started_at     timestamptz not null default clock_timestamp(),
    finished_at    timestamptz,
    error          text,
    details        jsonb
);
create index if not exists load_batches_table_idx on ingest.load_batches (raw_table, batch_id desc);
create table if not exists ingest.rejected_rows (
    batch_id     bigint not null references ingest.load_batches (batch_id),
    source_id    text not null,
    resource     text not null,
    line_number  bigint,
    column_name  text,
    rule         text not null,
    value        text,
    message      text not null,
    raw_line     text
);
create index if not exists rejected_rows_batch_idx on ingest.rejected_rows (batch_id);
-- 'error' rows are kept out of the raw table; 'warning' rows are loaded and reported.
alter table ingest.rejected_rows add column if not exists level text not null default 'error';
