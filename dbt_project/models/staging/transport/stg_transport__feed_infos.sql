with source as (
    select * from {{ source('transport', 'feed_info') }}
),

renamed as (
    select
        feed_publisher_name as editeur,
        feed_version as version_flux,
        to_date(nullif(feed_start_date, ''), 'YYYYMMDD') as date_debut,
        to_date(nullif(feed_end_date, ''), 'YYYYMMDD') as date_fin,
        _loaded_at
    from source
)

select * from renamed
