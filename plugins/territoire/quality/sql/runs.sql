-- The last runs of one dataset, newest first (the report's history and trend).
select run_id, dataset_id, verdict, finished_at, checks_total, checks_passed, row_count,
       published, override_by, override_reason, error
from quality.validation_runs
where dataset_id = %s
order by finished_at desc
limit %s
