"""Presentation: how a run and its values read, shared by every front end.

The command line, the dashboard, the sweep report and a later web view all show the same
things; they take them from here, so they agree and none imports another front end. Nothing here
prints or imports click or textual: modules return strings and plain structures.

    inert     record text made safe to show: control characters as visible escapes
    fmt       one value: statuses, durations, sizes, times, params and metrics
    terminal  ANSI styles and tables for the command line and the sweep report
    record    the layout of one run record (sections of labelled rows), for ``naga show`` and
              the dashboard's details screen

Modules are imported one by one (``naga run`` imports ``fmt`` on its hot path); this file
imports nothing.
"""
