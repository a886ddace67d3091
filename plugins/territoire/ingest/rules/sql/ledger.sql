-- The rules' part of the ingestion ledger: which rules ran on each batch, and which could not.
-- `ingest.rejected_rows.level` is shared with the loader (same statement in its ledger DDL).
alter table ingest.rejected_rows add column if not exists level text not null default 'error';
create table if not exists ingest.rule_runs (
    batch_id     bigint not null references ingest.load_batches (batch_id),
    rule         text not null,
    label        text not null,
    column_name  text,
    level        text not null check (level in ('error', 'warning')),
    status       text not null check (status in ('applied', 'not_run')),
    reason       text,
    violations   bigint not null default 0,
    declared_in  text,
    seconds      real
);
create index if not exists rule_runs_batch_idx on ingest.rule_runs (batch_id);
