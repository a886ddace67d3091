{#- One row per IRVE charging station (id_station_itinerance), aggregated from its charging points
    in fct_points_de_charge (their communes already mapped to the current COG).

    The IRVE schema repeats the station's attributes (name, address, coordinates, access, operator) on
    each of its points, so they should agree. When they do not (one Tesla id covers the two sides of
    a motorway service area, with two names and two positions), a text attribute takes its most
    frequent value (ties: the first in sort order, as mode() scans them) and the coordinates are left null: a
    position between two sites would be nowhere (`coordonnees_concordantes` says so). -#}
with points as (
    select * from {{ ref('fct_points_de_charge') }}
),

territoire as (
    select * from {{ ref('dim_territoire') }}
),

stations as (
    select
        id_station_itinerance,
        mode() within group (order by nom_station) as nom_station,
        -- a station lies in one commune; should its points disagree, the commune most of them are in
        mode() within group (order by code_commune) as code_commune,
        count(*) as nombre_points_de_charge,
        sum(puissance_nominale_kw) as puissance_totale_kw,
        max(puissance_nominale_kw) as puissance_maximale_kw,
        mode() within group (order by condition_acces) as condition_acces,
        mode() within group (order by nom_operateur) as nom_operateur,
        mode() within group (order by nom_amenageur) as nom_amenageur,
        count(distinct (longitude, latitude)) = 1
            and count(longitude) = count(*) and count(latitude) = count(*) as coordonnees_concordantes,
        min(longitude) as longitude_commune,
        min(latitude) as latitude_commune,
        bool_and(coordonnees_verifiees) as coordonnees_verifiees,
        min(date_mise_en_service) as date_mise_en_service,
        max(date_maj) as date_maj,
        max(_loaded_at) as _loaded_at
    from points
    group by id_station_itinerance
),

final as (
    select
        stations.id_station_itinerance,
        stations.nom_station,
        territoire.code_commune,
        territoire.code_epci,
        territoire.code_departement,
        territoire.code_region,
        stations.nombre_points_de_charge,
        stations.puissance_totale_kw,
        stations.puissance_maximale_kw,
        stations.condition_acces,
        stations.condition_acces ilike 'acc_s libre' as acces_libre,
        stations.nom_operateur,
        stations.nom_amenageur,
        case when stations.coordonnees_concordantes then stations.longitude_commune end as longitude,
        case when stations.coordonnees_concordantes then stations.latitude_commune end as latitude,
        stations.coordonnees_concordantes,
        stations.coordonnees_verifiees,
        stations.date_mise_en_service,
        stations.date_maj,
        stations._loaded_at
    from stations
    left join territoire
        on stations.code_commune = territoire.code_commune
)

select * from final
