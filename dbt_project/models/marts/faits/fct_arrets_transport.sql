{#- One row per GTFS stop (location_type 0), placed in its territory by coordinates (see
    int_arrets_transport_localises for the rule and its limits). -#}
with arrets as (
    select * from {{ ref('int_arrets_transport_localises') }}
),

territoire as (
    select * from {{ ref('dim_territoire') }}
),

departements as (
    select * from {{ ref('dim_departement') }}
),

final as (
    select
        arrets.stop_id,
        arrets.nom_arret,
        territoire.code_commune,
        territoire.code_epci,
        coalesce(territoire.code_departement, departements.code_departement) as code_departement,
        coalesce(territoire.code_region, departements.code_region) as code_region,
        arrets.latitude,
        arrets.longitude,
        arrets.methode_localisation
    from arrets
    left join territoire
        on arrets.code_commune = territoire.code_commune
    left join departements
        on arrets.code_departement = departements.code_departement
)

select * from final
