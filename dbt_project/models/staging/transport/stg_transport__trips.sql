{%- set relation = source('transport', 'trips') -%}
with source as (
    select * from {{ relation }}
),

renamed as (
    select
        trip_id,
        route_id,
        service_id,
        {{ colonne_optionnelle(relation, 'trip_headsign') }} as destination,
        {{ colonne_optionnelle(relation, 'direction_id') }}::integer as sens,
        _loaded_at
    from source
)

select * from renamed
