{#- One row per subsidy of the SCDL files. The territory is the département of the publishing
    platform (seed subventions_fichiers): the files give the attributor's SIRET, not a commune code,
    and the SIREN -> INSEE correspondence is not in the shipped reference data.

    Personal data (SCDL, loi pour une République numérique): a subsidy to a natural person must not
    publish the person's name. Only a beneficiary identified by a SIRET (14 digits: an establishment
    registered in SIRENE) keeps its name; without one, the beneficiary may be a person and the name
    is left empty (`nom_beneficiaire_masque` says so). -#}
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
        case when subventions.id_beneficiaire ~ '^[0-9]{14}$' then subventions.nom_beneficiaire end
            as nom_beneficiaire,
        subventions.id_beneficiaire,
        subventions.id_beneficiaire is null or subventions.id_beneficiaire !~ '^[0-9]{14}$'
            as nom_beneficiaire_masque,
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
