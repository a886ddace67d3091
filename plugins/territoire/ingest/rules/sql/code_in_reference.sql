-- Codes of {column} absent from the reference list (département, région, EPCI SIREN).
select s._line_number, %(column_name)s::text, s.{column},
       format('%%s : %%s', s.{column}, %(message)s::text)
from {table} as s
where nullif(btrim(s.{column}), '') is not null
  and not exists (select 1 from {reference} as r where r.{reference_column} = {code})
