"""The evaluator's plan: models x datasets, the probe protocol, and what else to run, from YAML.

- `plan.schema`: every class a plan is made of (Plan, ModelEntry, DatasetEntry, *Settings).
- `plan.load`: `load_plan(path)` / `parse_plan(document)`, the one validation path.

Sections are read by `medembed_evaluator.typed_settings` (pydantic), which `datasets` uses too for
each kind's `options:`. The arrows go one way: `plan` imports `datasets` (to check a dataset's
options by its kind) and `comparison` (the published table), never the other way round.
"""
