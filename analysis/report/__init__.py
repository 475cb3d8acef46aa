"""The one-command report: run the suite, then write figures, tables, report.md/.html.

Each experiment contributes a ``Section`` (title, text, tables, figures), built from its
tidy results table by the function ``SECTIONS`` names for it. Modules:

- ``section``: the ``Section`` record (depends on nothing else of the report);
- ``kernels``, ``training``, ``generalization``: the section functions;
- ``sections``: the table ``SECTIONS`` of experiment name -> section function;
- ``render``: report.md and the self-contained report.html;
- ``suite``: ``make_report`` (run the suite, build the sections, render).

Figures and tables come from ``analysis.plots`` and ``analysis.tables``.
"""

from analysis.report.section import Section as Section
from analysis.report.sections import SECTIONS as SECTIONS
from analysis.report.suite import SUITE as SUITE
from analysis.report.suite import make_report as make_report
from analysis.report.suite import run_suite as run_suite
