-- A postal code written where the INSEE commune code is expected: equal to the row's postal code
-- column when there is one, or an arrondissement postal code of Paris, Lyon, Marseille (even when an old
-- commune had that code); else a distribution office code ending in 0 that is no commune code, old or new.
with {judged}
select v._line_number, %(column_name)s::text, v.val,
       case when v.code = v.postal
            then format('%%s est le code postal de la ligne, pas le code INSEE de la commune', v.val)
            else format('%%s ressemble à un code postal (arrondissement ou bureau distributeur), pas à un code '
                        'INSEE de commune', v.val) end
from judged as v
where not v.is_current
  and ({postal_strong} or ({postal_weak} and not v.is_former))
