-- Commune codes that are neither current (COG: communes and municipal arrondissements, overseas
-- collectivities when loaded), nor a known former code, nor a postal code.
with {judged}
select v._line_number, %(column_name)s::text, v.val,
       format('le code %%s n''existe pas dans le Code officiel géographique (ni actuel, ni ancien)', v.val)
from judged as v
where not v.is_current
  and not v.is_former
  and not {postal_strong}
  and not {postal_weak}
  and not {overseas_test}
