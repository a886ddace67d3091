-- Communes whose name or code matches what the visitor typed (accents and case ignored).
select code_commune, nom_commune, nom_departement, code_departement
from published.dim_territoire
where translate(lower(nom_commune), 'àâäáãéèêëíîïìóôöòõúûüùçñœ''-', 'aaaaaeeeeiiiiooooouuuucno  ')
        like '%%' || translate(lower(%(q)s), 'àâäáãéèêëíîïìóôöòõúûüùçñœ''-', 'aaaaaeeeeiiiiooooouuuucno  ') || '%%'
   or code_commune = %(q)s
order by code_commune = %(q)s desc, length(nom_commune), nom_commune
limit 50
