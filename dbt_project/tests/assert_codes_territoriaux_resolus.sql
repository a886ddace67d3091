{#- Warns (does not fail the build) when some facts carry codes that could not be placed in the
    current geography: look at audit.territoire_codes_non_resolus for the codes and reasons. -#}
{{ config(severity='warn') }}

select * from {{ ref('territoire_codes_non_resolus') }}
