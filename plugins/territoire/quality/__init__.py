"""The quality gate: Great Expectations suites run on the audit schema before anything is published."""
