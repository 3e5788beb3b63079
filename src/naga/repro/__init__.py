"""Reproducing runs: the code a run used (``code``), running it again (``rerun``), what differs
between two runs (``diff``) and a git branch of a pipeline's code (``branch``).

Everything here goes through the real ``git`` and leaves the user's checkout alone: code is
restored into a temporary ``git worktree``, and trees and commits are built with plumbing
(``read-tree``/``apply --cached`` into a scratch index, ``commit-tree``, ``update-ref``).
"""
