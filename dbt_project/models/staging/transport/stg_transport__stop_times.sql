{#- GTFS times may pass 24:00:00 (a service day's trips after midnight): kept as text and as
    seconds since the start of the service day. -#}
{%- set relation = source('transport', 'stop_times') -%}
with source as (
    select * from {{ relation }}
),

renamed as (
    select
        trip_id,
        stop_id,
        stop_sequence::integer as stop_sequence,
        arrival_time as heure_arrivee,
        departure_time as heure_depart,
        split_part(departure_time, ':', 1)::integer * 3600
            + split_part(departure_time, ':', 2)::integer * 60
            + split_part(departure_time, ':', 3)::integer as depart_secondes,
        coalesce(nullif({{ colonne_optionnelle(relation, 'pickup_type') }}, ''), '0')::integer as type_montee,
        _loaded_at
    from source
)

select * from renamed
