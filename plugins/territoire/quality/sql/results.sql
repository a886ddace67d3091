-- Every check of the given runs; failing error-level checks first, then by rows in defect.
select run_id, expectation, rule, level, success, column_name, explication, observed_value,
       unexpected_count, unexpected_share, examples, kwargs
from quality.validation_results
where run_id = any(%s)
order by run_id, success, level = 'error' desc, unexpected_count desc nulls last, coalesce(rule, expectation)
