{#- FIWARE TrafficFlowObserved: `dateObserved` is an ISO 8601 interval `start/end` (local time,
    no offset: read as Europe/Paris); `location` is a GeoJSON point. -#}
with source as (
    select * from {{ source('velo_montpellier', 'ecocompteur_celleneuve') }}
),

renamed as (
    select
        id as id_observation,
        laneid as id_compteur,
        vehicletype as type_vehicule,
        reversedlane::boolean as sens_inverse,
        intensity::numeric as comptage,
        split_part(dateobserved, '/', 1)::timestamp at time zone 'Europe/Paris' as debut_periode,
        split_part(dateobserved, '/', 2)::timestamp at time zone 'Europe/Paris' as fin_periode,
        (location::jsonb -> 'coordinates' ->> 0)::double precision as longitude,
        (location::jsonb -> 'coordinates' ->> 1)::double precision as latitude,
        _line_number as ligne_source,
        _loaded_at
    from source
)

select * from renamed
