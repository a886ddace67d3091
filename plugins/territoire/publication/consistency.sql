-- The publication journal: one row per dataset. The swap into `published` sets `exporting` in its
-- own transaction; the row becomes `done` once the open-data files and the DCAT catalogue describe
-- that table. A row left `exporting` is a publication that stopped half-way: the next run completes it.
do $journal$ begin
    create table if not exists quality.publication_journal (
        dataset_id   text primary key,
        run_id       text not null,
        state        text not null check (state in ('exporting', 'done')),
        published_at timestamptz not null default now(),
        exported_at  timestamptz,
        files_version text
    );
exception when unique_violation or duplicate_table or duplicate_object then null;
end $journal$;
