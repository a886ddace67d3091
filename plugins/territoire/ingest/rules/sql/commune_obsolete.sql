-- Former commune codes, with the current code that replaced them and since when (the last movement
-- of the chain of mergers; the warehouse maps them the same way).
with recursive {judged},
former as (
    select distinct v.code from judged as v
    where not v.is_current and v.is_former and not {postal_strong}
),
steps as (
    select f.code as start, m.com_ap as code, m.date_eff, m.libelle_ap, 1 as depth
    from former f
    join raw.cog__mouvements_communes m on m.com_av = f.code and m.com_ap <> m.com_av and m.typecom_ap = 'COM'
    union all
    select s.start, m.com_ap, m.date_eff, m.libelle_ap, s.depth + 1
    from steps s
    join raw.cog__mouvements_communes m
      on m.com_av = s.code and m.com_ap <> m.com_av and m.typecom_ap = 'COM' and m.date_eff > s.date_eff
    where s.depth < 10
),
successor as (
    select distinct on (start) start, code, date_eff, libelle_ap
    from steps
    where exists (select 1 from raw.cog__communes c where c.com = steps.code and c.typecom = 'COM')
    order by start, date_eff desc, depth desc
)
select v._line_number, %(column_name)s::text, v.val,
       format('commune %%s → %%s depuis le %%s (%%s)', v.val, s.code, s.date_eff, s.libelle_ap)
from v
join successor s on s.start = v.code
