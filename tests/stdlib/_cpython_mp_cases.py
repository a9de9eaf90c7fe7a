"""The module CPython's ``_test_multiprocessing`` installs its test classes into.

This is what ``Lib/test/test_multiprocessing_fork.py`` (``_forkserver``, ``_spawn``) does for
CPython: ``install_tests_in_module_dict(globals(), start_method)`` creates ``WithProcessesTestPool``
and the rest here. It has to be a real, importable module rather than the harness script: some
tests pickle methods of these classes (``self._test_traceback``) to worker processes, which look
the class up again by ``module.qualname``. ``run_cpython_pool.py`` replaces ``setUpModule`` /
``tearDownModule`` with the pair for the start method being run.
"""

import multiprocessing

import test._test_multiprocessing as base

START_METHOD = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"

base.install_tests_in_module_dict(globals(), START_METHOD)
