with source as (
    select * from {{ source('transport', 'agency') }}
),

renamed as (
    select
        coalesce(agency_id, '') as agency_id,
        agency_name as nom_reseau,
        agency_url as url_reseau,
        agency_timezone as fuseau_horaire,
        _loaded_at
    from source
)

select * from renamed
