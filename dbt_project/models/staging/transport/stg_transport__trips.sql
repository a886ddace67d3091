with source as (
    select * from {{ source('transport', 'trips') }}
),

renamed as (
    select
        trip_id,
        route_id,
        service_id,
        trip_headsign as destination,
        direction_id::integer as sens,
        _loaded_at
    from source
)

select * from renamed
