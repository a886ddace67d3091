{#- Bike counters placed by coordinates, with the same rule as the transport stops
    (macro placer_points): commune contour, else single-commune département (Paris),
    else département only. -#}
with comptages as (
    select 'velo_paris' as source, id_compteur, longitude, latitude
    from {{ ref('stg_velo_paris__comptages') }}
    union all
    select 'velo_montpellier', id_compteur, longitude, latitude
    from {{ ref('stg_velo_montpellier__comptages') }}
),

compteurs as (
    select
        source || ':' || id_compteur as id_point,
        source,
        id_compteur,
        avg(longitude) as longitude,
        avg(latitude) as latitude
    from comptages
    where longitude is not null and latitude is not null
    group by source, id_compteur
),

placement as (
    {{ placer_points('compteurs') }}
),

final as (
    select
        compteurs.source,
        compteurs.id_compteur,
        compteurs.longitude,
        compteurs.latitude,
        placement.code_commune,
        placement.code_departement,
        placement.methode_localisation
    from compteurs
    inner join placement
        on compteurs.id_point = placement.id_point
)

select * from final
