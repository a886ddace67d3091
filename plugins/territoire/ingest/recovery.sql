-- Batches left `running` by a process that died become `interrupted` (recovery.py). For that, each
-- batch records the backend that runs it: its pid and start time (a pid alone may be reused).
-- Every ALTER below runs only when needed: ALTER TABLE waits for every open transaction that wrote
-- the ledger (a load in progress), so running them at each start would make loads wait for each other.
create or replace function ingest.backend_start() returns timestamptz
    language sql stable
    as $$ select backend_start from pg_stat_activity where pid = pg_backend_pid() $$;

do $$
begin
    if not exists (select 1 from pg_attribute where attrelid = 'ingest.load_batches'::regclass
                   and attname = 'backend_start' and atthasdef) then
        -- Added without a default first, so the batches already there keep NULL (unknown backend)
        -- instead of the pid of the session running this; the default then applies to new batches.
        alter table ingest.load_batches add column if not exists backend_pid integer;
        alter table ingest.load_batches add column if not exists backend_start timestamptz;
        alter table ingest.load_batches alter column backend_pid set default pg_backend_pid();
        alter table ingest.load_batches alter column backend_start set default ingest.backend_start();
    end if;
    -- The status check gains 'interrupted'.
    if not exists (select 1 from pg_constraint
                   where conrelid = 'ingest.load_batches'::regclass and conname = 'load_batches_status_check'
                     and pg_get_constraintdef(oid) like '%interrupted%') then
        alter table ingest.load_batches drop constraint if exists load_batches_status_check;
        alter table ingest.load_batches add constraint load_batches_status_check
            check (status in ('running', 'succeeded', 'failed', 'skipped_unchanged', 'interrupted'));
    end if;
end
$$;
