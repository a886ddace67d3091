{#- One row per charging point of the consolidated IRVE file, placed in its current commune
    through int_communes_mapped (the file carries codes of communes merged since, e.g. Seynod 74268
    -> Annecy 74010). -#}
with points as (
    select * from {{ ref('stg_irve__points_de_charge') }}
),

communes_mapped as (
    select * from {{ ref('int_communes_mapped') }}
),

territoire as (
    select * from {{ ref('dim_territoire') }}
),

final as (
    select
        points.id_pdc_itinerance,
        points.id_station_itinerance,
        points.nom_station,
        territoire.code_commune,
        territoire.code_epci,
        territoire.code_departement,
        territoire.code_region,
        points.code_commune_source,
        communes_mapped.methode as methode_correspondance,
        points.code_postal,
        points.longitude,
        points.latitude,
        points.coordonnees_verifiees,
        points.puissance_nominale_kw,
        points.condition_acces,
        points.condition_acces ilike 'acc_s libre' as acces_libre,
        points.nom_operateur,
        points.nom_amenageur,
        points.nom_enseigne,
        points.prise_type_2,
        points.prise_type_combo_ccs,
        points.prise_type_chademo,
        points.prise_type_ef,
        points.gratuit,
        points.date_mise_en_service,
        points.date_maj,
        points._loaded_at
    from points
    left join communes_mapped
        on points.code_commune_source = communes_mapped.code_commune_source
    left join territoire
        on communes_mapped.code_commune = territoire.code_commune
)

select * from final
