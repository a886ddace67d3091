{#- One row per scheduled departure of the timetable: a (trip, stop) where passengers can board,
    i.e. not the trip's last stop and pickup_type <> 1. `jours_par_semaine` says how many days of a
    typical week the trip's service runs (calendar.txt), so departures per week = sum of it. -#}
with passages as (
    select
        *,
        max(stop_sequence) over (partition by trip_id) as derniere_sequence
    from {{ ref('stg_transport__stop_times') }}
),

trips as (
    select * from {{ ref('stg_transport__trips') }}
),

routes as (
    select * from {{ ref('stg_transport__routes') }}
),

services as (
    select * from {{ ref('int_services_transport_semaine') }}
),

arrets as (
    select * from {{ ref('fct_arrets_transport') }}
),

final as (
    select
        passages.trip_id,
        passages.stop_sequence,
        passages.stop_id,
        trips.route_id,
        routes.type_ligne,
        trips.service_id,
        passages.heure_depart,
        passages.depart_secondes,
        services.jours_par_semaine,
        services.date_debut as date_debut_service,
        arrets.code_commune,
        arrets.code_epci,
        arrets.code_departement,
        arrets.code_region
    from passages
    inner join trips
        on passages.trip_id = trips.trip_id
    left join routes
        on trips.route_id = routes.route_id
    left join services
        on trips.service_id = services.service_id
    left join arrets
        on passages.stop_id = arrets.stop_id
    where passages.stop_sequence < passages.derniere_sequence
        and passages.type_montee <> 1
)

select * from final
