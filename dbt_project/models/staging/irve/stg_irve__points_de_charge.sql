{#- One row per charging point (id_pdc_itinerance). Coordinates come from the consolidation's
    corrected columns; `coordonneesXY` ("[lon, lat]") is kept for audit. -#}
with source as (
    select * from {{ source('irve', 'statique') }}
),

renamed as (
    select
        id_pdc_itinerance,
        id_pdc_local,
        id_station_itinerance,
        id_station_local,
        nom_station,
        implantation_station,
        adresse_station,
        {{ repair_code('code_insee_commune', 5) }} as code_commune_source,
        consolidated_code_postal as code_postal,
        consolidated_commune as nom_commune_consolide,
        coordonneesxy as coordonnees_xy_publiees,
        consolidated_longitude::double precision as longitude,
        consolidated_latitude::double precision as latitude,
        lower(consolidated_is_lon_lat_correct)::boolean as coordonnees_verifiees,
        lower(consolidated_is_code_insee_verified)::boolean as code_insee_verifie,
        nom_amenageur,
        siren_amenageur,
        nom_operateur,
        nom_enseigne,
        nbre_pdc::integer as nombre_pdc_station,
        puissance_nominale::numeric as puissance_nominale_kw,
        prise_type_ef::boolean as prise_type_ef,
        prise_type_2::boolean as prise_type_2,
        prise_type_combo_ccs::boolean as prise_type_combo_ccs,
        prise_type_chademo::boolean as prise_type_chademo,
        prise_type_autre::boolean as prise_type_autre,
        gratuit::boolean as gratuit,
        paiement_acte::boolean as paiement_acte,
        paiement_cb::boolean as paiement_cb,
        condition_acces,
        reservation::boolean as reservation,
        horaires,
        accessibilite_pmr,
        station_deux_roues::boolean as station_deux_roues,
        raccordement,
        date_mise_en_service::date as date_mise_en_service,
        date_maj::date as date_maj,
        _line_number as ligne_source,
        _loaded_at
    from source
)

select * from renamed
