{#- Days a GTFS service runs in a typical week, from calendar.txt (calendar_dates exceptions,
    holidays, are ignored: the indicator describes the regular offer). A service defined only in
    calendar_dates gets 0 days. -#}
with calendrier as (
    select * from {{ ref('stg_transport__calendar') }}
),

services as (
    select service_id from {{ ref('stg_transport__trips') }}
    union
    select service_id from calendrier
),

final as (
    select
        services.service_id,
        coalesce(
            calendrier.lundi::integer + calendrier.mardi::integer + calendrier.mercredi::integer
            + calendrier.jeudi::integer + calendrier.vendredi::integer + calendrier.samedi::integer
            + calendrier.dimanche::integer,
            0
        ) as jours_par_semaine,
        calendrier.date_debut,
        calendrier.date_fin
    from services
    left join calendrier
        on services.service_id = calendrier.service_id
)

select * from final
