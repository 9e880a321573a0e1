"""``python -m bench report``: the paper's tables, published numbers beside ours, significance, plots.

A report is a pure function of the results store: it reads finished-cell JSON files and
recomputes nothing. Importing this package stays cheap (no pandas, no matplotlib, no torch).

Public entry points::

    from reports.build import build_report, write_report
    report = build_report("runs", protocols=None, with_published=False, spread=None, plcc="raw",
                          aggregate="median", metrics=None, where=None, presets=None, views=None)
    written = write_report(report, "report", formats=("md", "latex", "csv", "png"))
"""
