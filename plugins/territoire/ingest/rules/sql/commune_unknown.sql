-- Commune codes that are neither current (COG: communes and municipal arrondissements, overseas
-- collectivities when loaded), nor a known former code, nor a postal code.
with v as (
    select _line_number, {column} as val, {code} as code, {postal} as postal
    from {table}
    where nullif(btrim({column}), '') is not null
)
select v._line_number, %(column_name)s::text, v.val,
       format('le code %%s n''existe pas dans le Code officiel géographique (ni actuel, ni ancien)', v.val)
from v
where not exists (select 1 from raw.cog__communes c where c.com = v.code and c.typecom in ('COM', 'ARM'))
  and not exists (select 1 from raw.cog__mouvements_communes m where m.com_av = v.code)
  and not {postal_strong}
  and not {postal_weak}
  and not ({overseas_test})
