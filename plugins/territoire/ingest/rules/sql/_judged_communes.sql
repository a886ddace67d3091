-- (Included by the commune rules as `with {judged}`.) `v`: the non-empty values of the column, with the
-- code read from each and the row's postal code; `judged`: each distinct code of `v`, once: is it a
-- current commune (or municipal arrondissement), a former commune code? Hash joins on distinct sets.
v as (
    select _line_number, {column} as val, {code} as code, {postal} as postal
    from {table}
    where nullif(btrim({column}), '') is not null
),
current_codes as (
    select distinct com as code from raw.cog__communes where typecom in ('COM', 'ARM')
),
former_codes as (
    select distinct com_av as code from raw.cog__mouvements_communes
),
judged as (
    select v.*, c.code is not null as is_current, f.code is not null as is_former
    from v
    left join current_codes as c on c.code = v.code
    left join former_codes as f on f.code = v.code
)
