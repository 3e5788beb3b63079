"""Runs in a browser: ``naga ui`` (a live dashboard served by Starlette) and ``naga report``
(one self-contained HTML file).

``data`` reads the store into JSON documents, ``app`` serves them behind a token with the pages
in ``static/`` (plain JavaScript, uPlot vendored in ``static/vendor``), ``live`` turns the
store's change markers into server-sent events, ``report`` inlines the same page and data into
one file. Only this package imports Starlette, and nothing imports it outside ``naga ui``.
"""
