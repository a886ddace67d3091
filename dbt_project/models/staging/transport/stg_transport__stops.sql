with source as (
    select * from {{ source('transport', 'stops') }}
),

renamed as (
    select
        stop_id,
        stop_code as code_arret,
        btrim(stop_name) as nom_arret,
        stop_lat::double precision as latitude,
        stop_lon::double precision as longitude,
        coalesce(nullif(location_type, ''), '0')::integer as type_emplacement,
        nullif(parent_station, '') as parent_station,
        _loaded_at
    from source
)

select * from renamed
