with source as (
    select * from {{ source('transport', 'calendar') }}
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
