"""Runs that train elsewhere: in a child process (``--parallel``, ``--detach``), in a Slurm job
(``--slurm``), or in another terminal (``--watch``, the console's attach).

- ``protocol.py``: what the process that trains and the one that follows agree on: the run
  directory's note, the environment variables that name it, the one signal table, the error
  prefix, the ``cifar-tui ...`` command lines, and :class:`~core.following.protocol.RunLike`,
  the face every run the sweep loop drives has;
- ``session.py``: the one follow loop: a run's files read back as events, session by session,
  until whatever trains it is over, and how the run ended.

Nothing here imports the engine, Textual or ``tui/``.
"""
