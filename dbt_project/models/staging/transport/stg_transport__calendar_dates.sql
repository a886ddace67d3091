with source as (
    select * from {{ source('transport', 'calendar_dates') }}
),

renamed as (
    select
        service_id,
        to_date(date, 'YYYYMMDD') as date_service,
        exception_type::integer as type_exception,
        _loaded_at
    from source
)

select * from renamed
