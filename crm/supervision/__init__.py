"""督办: supervision orders on projects, issued by hand or by the daily run, answered, closed."""
