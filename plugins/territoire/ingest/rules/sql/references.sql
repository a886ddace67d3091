-- Values of {column} absent from {to_column} of the referenced table (e.g. a GTFS stop_id of
-- stop_times.txt that stops.txt does not define).
select s._line_number, %(column_name)s::text, s.{column},
       format('%%s = %%L n''existe pas dans %%s (%%s)', %(column_name)s::text, s.{column}, %(to_table)s::text,
              %(to_name)s::text)
from {table} as s
where nullif(btrim(s.{column}), '') is not null
  and not exists (select 1 from {to_table} as r where r.{to_column} = s.{column})
