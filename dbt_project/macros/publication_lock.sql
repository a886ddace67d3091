{#- `publication_lock()`: the platform lock `published.<model>` (a row of ingest.locks, locked until this
    transaction ends), the same lock territoire.publication.publish.dataset_lock holds while the quality
    gate validates and publishes the table. A rebuild of a mart waits for a publication of it in progress
    to finish, and a publication waits for a rebuild to commit: the version GX validated is the version
    published. Analysts have no privilege on `ingest`: they can neither take nor hold this lock (an
    advisory lock's key anyone can compute). -#}
{% macro publication_lock() -%}
    do $lock$ begin
        create schema if not exists ingest;
        create table if not exists ingest.locks (name text primary key);
    exception when unique_violation or duplicate_table or duplicate_object then null;
    end $lock$;
    insert into ingest.locks (name) values ('published.{{ this.identifier }}') on conflict do nothing;
    select name from ingest.locks where name = 'published.{{ this.identifier }}' for update
{%- endmacro %}
