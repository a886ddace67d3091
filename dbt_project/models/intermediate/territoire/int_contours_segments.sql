{#- The edges of the IGN contours as (x1, y1) -> (x2, y2) segments in WGS84 lon/lat, for the
    point-in-polygon test of `localiser_points` (no PostGIS in the warehouse). Polygon and
    MultiPolygon are both flattened; holes are kept as rings, the even-odd rule handles them.
    Communes come with their 2018 codes mapped to the current COG (a 2018 commune merged since
    lends its contour to its current commune). Only Territoire de Belfort has commune contours. -#}
{{ config(materialized='table') }}

with departements as (
    select 'departement' as niveau, code_departement as code, geometrie
    from {{ ref('stg_ign_adminexpress__departements') }}
),

communes as (
    select 'commune' as niveau, mapped.code_commune as code, contours.geometrie
    from {{ ref('stg_ign_adminexpress__communes_belfort') }} as contours
    inner join {{ ref('int_communes_mapped') }} as mapped
        on contours.code_commune_2018 = mapped.code_commune_source
    where mapped.code_commune is not null
),

contours as (
    select * from departements
    union all
    select * from communes
),

polygones as (
    select niveau, code, geometrie -> 'coordinates' as polygone
    from contours
    where geometrie ->> 'type' = 'Polygon'
    union all
    select contours.niveau, contours.code, parts.polygone
    from contours
    cross join lateral jsonb_array_elements(contours.geometrie -> 'coordinates') as parts (polygone)
    where contours.geometrie ->> 'type' = 'MultiPolygon'
),

anneaux as (
    select polygones.niveau, polygones.code, row_number() over () as id_anneau, rings.anneau
    from polygones
    cross join lateral jsonb_array_elements(polygones.polygone) as rings (anneau)
),

sommets as (
    select
        anneaux.niveau,
        anneaux.code,
        anneaux.id_anneau,
        points.ordre,
        (points.point ->> 0)::double precision as x,
        (points.point ->> 1)::double precision as y
    from anneaux
    cross join lateral jsonb_array_elements(anneaux.anneau) with ordinality as points (point, ordre)
),

segments as (
    select
        niveau,
        code,
        x as x1,
        y as y1,
        lead(x) over (partition by id_anneau order by ordre) as x2,
        lead(y) over (partition by id_anneau order by ordre) as y2
    from sommets
),

final as (
    select niveau, code, x1, y1, x2, y2
    from segments
    where x2 is not null
)

select * from final
