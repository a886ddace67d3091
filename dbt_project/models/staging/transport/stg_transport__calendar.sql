{#- calendar.txt is optional in GTFS when calendar_dates.txt lists every day: without it, no row
    (int_services_transport_semaine then gives 0 days a week). -#}
{%- set relation = source('transport', 'calendar') -%}
{%- if relation_existe(relation) %}
with source as (
    select * from {{ relation }}
),

renamed as (
    select
        service_id,
        monday = '1' as lundi,
        tuesday = '1' as mardi,
        wednesday = '1' as mercredi,
        thursday = '1' as jeudi,
        friday = '1' as vendredi,
        saturday = '1' as samedi,
        sunday = '1' as dimanche,
        to_date(start_date, 'YYYYMMDD') as date_debut,
        to_date(end_date, 'YYYYMMDD') as date_fin,
        _loaded_at
    from source
)

select * from renamed
{%- else %}
select
    cast(null as text) as service_id,
    cast(null as boolean) as lundi,
    cast(null as boolean) as mardi,
    cast(null as boolean) as mercredi,
    cast(null as boolean) as jeudi,
    cast(null as boolean) as vendredi,
    cast(null as boolean) as samedi,
    cast(null as boolean) as dimanche,
    cast(null as date) as date_debut,
    cast(null as date) as date_fin,
    cast(null as timestamptz) as _loaded_at
where false
{%- endif %}
