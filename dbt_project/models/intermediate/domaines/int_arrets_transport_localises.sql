{#- Places each GTFS stop (location_type 0) in its territory by coordinates, as GTFS gives no
    commune: macro placer_points (commune contour, else single-commune département such as Paris,
    else département only). A stop without coordinates is kept, placed nowhere (`hors_contours`). -#}
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

placement as (
    {{ placer_points('arrets') }}
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
        placement.code_commune,
        placement.code_departement,
        coalesce(placement.methode_localisation, 'hors_contours') as methode_localisation
    from stops
    left join placement
        on stops.stop_id = placement.id_point
)

select * from final
