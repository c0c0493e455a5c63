"""`xephang doctor`: checks a Pi for its role and reports in Vietnamese first.

`report` holds the finding types, the plan of checks per role and the report; `checks`
and `devices` the checks themselves; `cli` the sub-command.
"""

from xephang.doctor.report import Context, Finding, exit_status, guess_role, plan, report, run

__all__ = ["Context", "Finding", "exit_status", "guess_role", "plan", "report", "run"]
