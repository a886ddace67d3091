-- IRIS codes: 9 characters, the first five a current commune (or municipal arrondissement) code.
with v as (
    select _line_number, s.{column} as val, {code} as code
    from {table} as s
    where nullif(btrim(s.{column}), '') is not null
),
current_codes as (
    select distinct com as code from raw.cog__communes where typecom in ('COM', 'ARM')
)
select v._line_number, %(column_name)s::text, v.val,
       case when v.code !~ '^([0-9]{2}|2[AB])[0-9]{7}$'
            then format('%%s : un code IRIS a 9 caractères (code commune + 4 chiffres)', v.val)
            else format('%%s : le code commune %%s de cet IRIS n''existe pas dans le COG actuel',
                        v.val, left(v.code, 5)) end
from v
left join current_codes as c on c.code = left(v.code, 5)
where v.code !~ '^([0-9]{2}|2[AB])[0-9]{7}$' or c.code is null
