"""Rebuilding a recorded run and verifying that it gives the same results.

``plan`` reads what a run recorded; ``checkout`` restores its code and data into a folder;
``packages`` and ``lockfile`` turn its package list or ``uv.lock`` into installable
requirements; ``envbuild`` builds (and caches) an environment from them; ``docker`` handles
a container engine; ``verify`` and ``textdiff`` compare the rebuilt run with the original,
``report`` assembles the verdict and ``hints`` names likely causes of a divergence;
``export`` writes the environment out; ``repro`` ties the steps together.
"""
