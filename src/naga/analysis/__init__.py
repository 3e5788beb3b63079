"""Statistics over recorded runs, for the front ends to render: ``seeds`` groups runs that differ
only in some params (the seed) and gives each group's means and confidence intervals.

Nothing here prints, reads the terminal or imports click or textual; scipy (the t quantile) is
an optional extra, imported only when an interval is computed.
"""

from __future__ import annotations
