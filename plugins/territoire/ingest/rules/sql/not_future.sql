-- Dates (or date-times) of {column} after today.
select _line_number, %(column_name)s::text, val,
       format('la date %%s est postérieure à aujourd''hui (%%s)', val, current_date)
from (select _line_number, btrim({column}) as val from {table}) as s
where val ~ '^\d{4}-\d{2}-\d{2}'
  and left(val, 10) ~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$'
  and left(val, 10)::date > current_date + %(tolerance_days)s::integer
