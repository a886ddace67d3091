with source as (
    select * from {{ source('transport', 'routes') }}
),

renamed as (
    select
        route_id,
        coalesce(agency_id, '') as agency_id,
        route_short_name as nom_court_ligne,
        route_long_name as nom_long_ligne,
        route_type::integer as type_ligne,
        _loaded_at
    from source
)

select * from renamed
