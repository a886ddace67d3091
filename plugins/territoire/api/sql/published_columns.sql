-- Columns of every table in `published` (the allow-list of identifiers the API accepts), in table order.
select c.relname as table_name,
       a.attname as column_name,
       format_type(a.atttypid, a.atttypmod) as data_type,
       a.attnotnull as not_null
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
where n.nspname = 'published'
  and c.relkind in ('r', 'p', 'v', 'm')
order by c.relname, a.attnum
