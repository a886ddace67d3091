-- IRIS codes: 9 characters, the first five a current commune (or municipal arrondissement) code.
select s._line_number, %(column_name)s::text, s.{column},
       case when {code} !~ '^([0-9]{2}|2[AB])[0-9]{7}$'
            then format('%%s : un code IRIS a 9 caractères (code commune + 4 chiffres)', s.{column})
            else format('%%s : le code commune %%s de cet IRIS n''existe pas dans le COG actuel',
                        s.{column}, left({code}, 5)) end
from {table} as s
where nullif(btrim(s.{column}), '') is not null
  and ({code} !~ '^([0-9]{2}|2[AB])[0-9]{7}$'
       or not exists (select 1 from raw.cog__communes c where c.com = left({code}, 5) and c.typecom in ('COM', 'ARM')))
