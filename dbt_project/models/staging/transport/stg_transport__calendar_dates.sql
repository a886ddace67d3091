{#- calendar_dates.txt is optional in GTFS when calendar.txt exists: without it, no row. -#}
{%- set relation = source('transport', 'calendar_dates') -%}
{%- if relation_existe(relation) %}
with source as (
    select * from {{ relation }}
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
{%- else %}
select
    cast(null as text) as service_id,
    cast(null as date) as date_service,
    cast(null as integer) as type_exception,
    cast(null as timestamptz) as _loaded_at
where false
{%- endif %}
