-- Named locks of the platform: one row per locked object (`raw.<table>`, `published.<dataset>`,
-- `ingest.ddl`). A holder locks its row (SELECT ... FOR UPDATE) in a transaction of its own; the row
-- lock ends with that transaction, or with the holder's connection if its process dies.
-- The table lives in `ingest`, where analysts have no privilege at all: unlike an advisory lock,
-- whose key anyone connected can compute and take, no analyst can take or hold these locks.
create schema if not exists ingest;
create table if not exists ingest.locks (
    name text primary key
);
-- Who holds or waits for each lock (written by the holder before it locks the row, deleted when it
-- lets go; a row whose backend is gone is ignored): what `LockBusy` names.
create table if not exists ingest.lock_holders (
    name    text not null,
    pid     integer not null,
    what    text not null,
    since   timestamptz not null default now(),
    primary key (name, pid)
);
