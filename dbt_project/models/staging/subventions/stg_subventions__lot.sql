{#- SCDL subventions 1.x. Enumerations are lower-cased (producers capitalise them), the period
    `AAAA-MM-JJ_AAAA-MM-JJ` is split, and the spreadsheet's blank trailing rows are dropped. -#}
with source as (
    select * from {{ source('subventions', 'lot') }}
),

renamed as (
    select
        'lot' as fichier,
        btrim(nomattribuant) as nom_attribuant,
        btrim(idattribuant) as id_attribuant,
        dateconvention::date as date_convention,
        referencedecision as reference_decision,
        btrim(nombeneficiaire) as nom_beneficiaire,
        nullif(btrim(idbeneficiaire), '') as id_beneficiaire,
        objet,
        montant::numeric as montant_euros,
        lower(btrim(nature)) as nature,
        lower(btrim(conditionsversement)) as conditions_versement,
        nullif(split_part(datesperiodeversement, '_', 1), '')::date as debut_versement,
        nullif(split_part(datesperiodeversement, '_', 2), '')::date as fin_versement,
        lower(btrim(notificationue)) as notification_ue,
        pourcentagesubvention::numeric as part_subventionnee,
        _line_number as ligne_source,
        _loaded_at
    from source
    where coalesce(nomattribuant, nombeneficiaire, montant, objet) is not null
)

select * from renamed
