"""Publication: switching audited tables into `published` and exporting open-data files."""
