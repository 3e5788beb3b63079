"""Sharing runs: ``naga push`` / ``naga pull`` to and from any rclone remote, with the runs'
git snapshot refs to and from a git remote.

``workflow`` is push and pull whole (choose, plan, move), for the CLI and any other front end;
``rclone`` drives the real rclone binary; ``transfer`` plans and carries out the moves (whole
run directories, conflicts refused, never overwritten); ``gitrefs`` moves the snapshot refs.
"""
