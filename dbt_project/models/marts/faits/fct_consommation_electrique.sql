{#- Residential electricity by IRIS x year (Enedis), as published: the cells that
    int_consommation_iris_secret marks (primary or secondary statistical secrecy) have an empty
    consumption, and `secret_statistique` says which and why. -#}
with consommations as (
    select * from {{ ref('int_consommation_iris_secret') }}
),

final as (
    select
        annee,
        code_iris,
        nom_iris,
        code_commune,
        code_epci,
        code_departement,
        code_region,
        code_commune_source,
        code_commune_iris,
        nombre_adresses,
        nombre_logements,
        case when secret_statistique is null then consommation_totale_mwh end as consommation_totale_mwh,
        secret_statistique,
        _loaded_at
    from consommations
)

select * from final
