{#- Places each GTFS stop (location_type 0) in its territory by coordinates, as GTFS gives no
    commune: point-in-polygon over the IGN contours (macro localiser_points).
    - commune: the commune contour containing the stop (only Territoire de Belfort has commune
      contours in the shipped IGN sample);
    - else, when the département containing the stop has a single commune (Paris), that commune;
    - else the département only (commune left null and reported in territoire_codes_non_resolus);
    - a stop on no contour (at sea, coordinates missing or swapped) keeps neither. -#}
with arrets as (
    select
        stop_id as id_point,
        longitude,
        latitude
    from {{ ref('stg_transport__stops') }}
    where type_emplacement = 0
        and longitude is not null
        and latitude is not null
),

dans_commune as (
    {{ localiser_points('arrets', 'commune') }}
),

dans_departement as (
    {{ localiser_points('arrets', 'departement') }}
),

communes_uniques as (
    select code_departement, min(code_commune) as code_commune
    from {{ ref('dim_territoire') }}
    group by code_departement
    having count(*) = 1
),

stops as (
    select * from {{ ref('stg_transport__stops') }}
    where type_emplacement = 0
),

final as (
    select
        stops.stop_id,
        stops.nom_arret,
        stops.latitude,
        stops.longitude,
        coalesce(dans_commune.code, communes_uniques.code_commune) as code_commune,
        dans_departement.code as code_departement,
        case
            when dans_commune.code is not null then 'contour_commune'
            when communes_uniques.code_commune is not null then 'departement_commune_unique'
            when dans_departement.code is not null then 'contour_departement'
            else 'hors_contours'
        end as methode_localisation
    from stops
    left join dans_commune
        on stops.stop_id = dans_commune.id_point
    left join dans_departement
        on stops.stop_id = dans_departement.id_point
    left join communes_uniques
        on dans_departement.code = communes_uniques.code_departement
)

select * from final
