-- Numbers of {column} below the minimum or above the maximum (values that are not numbers are left to
-- the type checks). `when_column`/`when_matches` limit the rule to some rows (e.g. some aggregates).
select _line_number, %(column_name)s::text, val,
       case when num < %(min)s::numeric
            then format('%%s inférieur au minimum %%s', val, %(min)s::numeric)
            else format('%%s supérieur au maximum %%s', val, %(max)s::numeric) end
       || coalesce(format(' (%%s = %%L)', %(when_name)s::text, when_value), '')
from (
    select _line_number, btrim({column}) as val, {when_column}::text as when_value,
           case when btrim({column}) ~ '^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$'
                then btrim({column})::numeric end as num
    from {table}
) as s
where (num < %(min)s::numeric or num > %(max)s::numeric)
  and (%(when_matches)s::text is null or when_value ~* %(when_matches)s::text)
