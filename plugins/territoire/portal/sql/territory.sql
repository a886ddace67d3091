-- One commune of dim_territoire standing for a territory of any level: its names and the codes of
-- the levels above it (for an EPCI or a département, the commune of the most common parents).
select code_commune, nom_commune, code_epci, nom_epci, code_departement, nom_departement,
       code_region, nom_region
from published.dim_territoire
where case %(niveau)s
        when 'commune' then code_commune
        when 'epci' then code_epci
        when 'departement' then code_departement
        when 'region' then code_region
      end = %(code)s
order by population_municipale desc nulls last
limit 1
