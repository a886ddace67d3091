{#- One row per subsidy of the SCDL files. The territory is the département of the publishing
    platform (seed subventions_fichiers): the files give the attributor's SIRET, not a commune code,
    and the SIREN -> INSEE correspondence is not in the shipped reference data. -#}
with subventions as (
    select * from {{ ref('stg_subventions__haute_garonne') }}
    union all
    select * from {{ ref('stg_subventions__lot') }}
),

fichiers as (
    select * from {{ ref('subventions_fichiers') }}
),

departements as (
    select * from {{ ref('dim_departement') }}
),

final as (
    select
        subventions.fichier,
        subventions.ligne_source,
        subventions.nom_attribuant,
        subventions.id_attribuant,
        left(subventions.id_attribuant, 9) as siren_attribuant,
        subventions.nom_beneficiaire,
        subventions.id_beneficiaire,
        subventions.objet,
        subventions.montant_euros,
        subventions.nature,
        subventions.date_convention,
        extract(year from subventions.date_convention)::integer as annee,
        subventions.debut_versement,
        subventions.fin_versement,
        departements.code_departement,
        departements.code_region,
        subventions._loaded_at
    from subventions
    left join fichiers
        on subventions.fichier = fichiers.fichier
    left join departements
        on fichiers.code_departement = departements.code_departement
)

select * from final
