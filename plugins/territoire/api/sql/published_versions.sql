-- The cheap version marker of each published table: its oid changes at every publication (the swap
-- drops the old table and renames the new one).
select c.relname as table_name, c.oid::bigint as table_oid
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
where n.nspname = 'published'
  and c.relkind in ('r', 'p', 'v', 'm')
