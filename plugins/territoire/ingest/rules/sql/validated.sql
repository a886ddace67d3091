-- Measures whose validation flag ({column}) does not say validated: kept, but flagged.
select _line_number, %(column_name)s::text, val,
       format('mesure non validée (%%s = %%L) : elle peut encore être corrigée par le producteur',
              %(column_name)s::text, val)
from (select _line_number, lower(btrim(coalesce({column}, ''))) as val from {table}) as s
where val <> all (%(validated)s::text[])
