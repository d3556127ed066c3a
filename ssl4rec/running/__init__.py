"""Running suites: the cell plan (parse, validate), model builders, the runner, tuning, studies, tracking."""
