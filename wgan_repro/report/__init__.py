"""Reports: the paper's comparisons collated from MLflow into tables (CSV, Markdown, HTML) and figures (PNG).

`python -m wgan_repro.report [tracking.uri=...] [report.sweep=...] [report.filter=...] [report.name=...]` reads
the runs with `mlflow.search_runs` (collect.py), summarises them with pandas (tables.py), draws (figures.py) and
writes `report.md`, a self-contained `report.html` (figures embedded), every table as CSV and every figure as PNG
into `report.out_dir` (default reports/<name>). It re-renders from MLflow alone, trains nothing, and lists the
runs behind it with their commits and the commands that reproduce them.
"""
