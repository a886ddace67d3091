-- A postal code written where the INSEE commune code is expected: equal to the row's postal code
-- column when there is one, or an arrondissement postal code of Paris, Lyon, Marseille (even when an old
-- commune had that code); else a distribution office code ending in 0 that is no commune code, old or new.
with v as (
    select _line_number, {column} as val, {code} as code, {postal} as postal
    from {table}
    where nullif(btrim({column}), '') is not null
)
select v._line_number, %(column_name)s::text, v.val,
       case when v.code = v.postal
            then format('%%s est le code postal de la ligne, pas le code INSEE de la commune', v.val)
            else format('%%s ressemble à un code postal (arrondissement ou bureau distributeur), pas à un code '
                        'INSEE de commune', v.val) end
from v
where not exists (select 1 from raw.cog__communes c where c.com = v.code and c.typecom in ('COM', 'ARM'))
  and ({postal_strong}
       or ({postal_weak} and not exists (select 1 from raw.cog__mouvements_communes m where m.com_av = v.code)))
