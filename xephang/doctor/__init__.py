"""`xephang doctor`: checks a Pi for its role and reports in Vietnamese first.

`findings` holds the types; `checks` and `devices` the checks themselves; `report` the
plan of checks per role, the run and the report; `cli` the sub-command.
"""

from xephang.doctor.findings import Context, Finding
from xephang.doctor.report import exit_status, guess_role, plan, report, run

__all__ = ["Context", "Finding", "exit_status", "guess_role", "plan", "report", "run"]
