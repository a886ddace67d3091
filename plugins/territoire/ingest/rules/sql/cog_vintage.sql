-- The vintage of a territory reference file: the COG year its commune codes match. Codes removed by a
-- movement and still in the file date it before that movement; current codes created since are missing.
with file_codes as (
    select distinct {code} as code from {table} where nullif(btrim({column}), '') is not null
),
departements as (
    select distinct left(code, case when code like '97%%' then 3 else 2 end) as dep from file_codes
),
removed as (
    select m.com_av as code, max(m.date_eff) as removed_on
    from raw.cog__mouvements_communes m
    where m.typecom_av = 'COM'
      and not exists (select 1 from raw.cog__communes c where c.com = m.com_av and c.typecom = 'COM')
    group by m.com_av
),
still_there as (
    select r.code, r.removed_on from removed r join file_codes f on f.code = r.code
),
vintage as (
    select coalesce(extract(year from min(removed_on)::date)::integer - 1,
                    (select extract(year from max(date_eff::date))::integer from raw.cog__mouvements_communes))
           as year
    from still_there
),
created as (
    select distinct c.com as code
    from raw.cog__communes c
    join raw.cog__mouvements_communes m on m.com_ap = c.com and m.com_av <> m.com_ap
    cross join vintage
    where c.typecom = 'COM'
      and extract(year from m.date_eff::date) > vintage.year
      and left(c.com, case when c.com like '97%%' then 3 else 2 end) in (select dep from departements)
      and not exists (select 1 from file_codes f where f.code = c.com)
)
select null::bigint, %(column_name)s::text, format('COG %%s', vintage.year),
       format('fichier COG %%s : %%s commune(s) fusionnée(s) ou supprimée(s) depuis, %%s nouvelle(s) ; '
              'COG de référence de l''entrepôt : %%s',
              vintage.year, (select count(*) from still_there), (select count(*) from created),
              (select extract(year from max(date_eff::date))::integer from raw.cog__mouvements_communes))
from vintage
where exists (select 1 from still_there) or exists (select 1 from created)
