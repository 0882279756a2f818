"""Re-running someone's run with other settings or data: ``cairn fork``.

``overrides`` reads what the user asked to change (``--set k=v``, ``--input PATH=NEWPATH``)
and rewrites the recorded command line; ``paramfile`` rewrites the params file a run read;
``inputs`` puts the user's files in the checkout; ``coderecord`` keeps the fork's code record
true to the files it ran; ``fork`` ties them to a checkout and a tracked run linked
``forked_from`` the original.
"""
