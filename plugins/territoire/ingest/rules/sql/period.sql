-- Periods written `AAAA-MM-JJ_AAAA-MM-JJ` (SCDL) or a single date: well formed, start before end.
select _line_number, %(column_name)s::text, val,
       case when not (val ~ '^\d{4}-\d{2}-\d{2}(_\d{4}-\d{2}-\d{2})?$')
            then format('%%s : une période s''écrit AAAA-MM-JJ_AAAA-MM-JJ (ou une seule date AAAA-MM-JJ)', val)
            else format('%%s : la période finit avant de commencer', val) end
from (select _line_number, btrim({column}) as val from {table}) as s
where val <> ''
  and (not (val ~ '^\d{4}-\d{2}-\d{2}(_\d{4}-\d{2}-\d{2})?$')
       or (val ~ '_' and split_part(val, '_', 1) > split_part(val, '_', 2)))
