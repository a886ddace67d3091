-- Years of {column} (or of its date) outside the source's coverage.
select _line_number, %(column_name)s::text, val,
       format('année %%s hors de la période couverte par la source (%%s à %%s)', yr, %(min)s::integer,
              coalesce(%(max)s::integer, extract(year from current_date)::integer))
from (
    select _line_number, btrim({column}) as val, substring(btrim({column}) from '^(\d{4})')::integer as yr
    from {table}
) as s
where yr is not null
  and (yr < %(min)s::integer or yr > coalesce(%(max)s::integer, extract(year from current_date)::integer))
