{#- Bike counters placed by coordinates, with the same rule as the transport stops
    (int_arrets_transport_localises): commune contour, else single-commune département (Paris),
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

dans_commune as (
    {{ localiser_points('compteurs', 'commune') }}
),

dans_departement as (
    {{ localiser_points('compteurs', 'departement') }}
),

communes_uniques as (
    select code_departement, min(code_commune) as code_commune
    from {{ ref('dim_territoire') }}
    group by code_departement
    having count(*) = 1
),

final as (
    select
        compteurs.source,
        compteurs.id_compteur,
        compteurs.longitude,
        compteurs.latitude,
        coalesce(dans_commune.code, communes_uniques.code_commune) as code_commune,
        dans_departement.code as code_departement,
        case
            when dans_commune.code is not null then 'contour_commune'
            when communes_uniques.code_commune is not null then 'departement_commune_unique'
            when dans_departement.code is not null then 'contour_departement'
            else 'hors_contours'
        end as methode_localisation
    from compteurs
    left join dans_commune
        on compteurs.id_point = dans_commune.id_point
    left join dans_departement
        on compteurs.id_point = dans_departement.id_point
    left join communes_uniques
        on dans_departement.code = communes_uniques.code_departement
)

select * from final
