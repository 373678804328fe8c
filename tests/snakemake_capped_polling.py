"""`snakemake` with the executor's status polling capped at a few seconds (tests only).

The SLURM plugin waits 10 s longer after every status check that finds no finished job (up to
180 s), a good rhythm for hour-long cluster jobs. The test cluster's jobs take seconds and run in
nine dependent rounds, so most of the test's time went to that back-off (each job appeared to last
at least 12-33 s; the whole run 3.5 min against 40 s locally). Capping the wait changes when
Snakemake looks, not what is submitted or what the jobs write, which is what the test checks.

Usage: python snakemake_capped_polling.py SECONDS <snakemake arguments>
"""

import sys

from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor


def cap_status_polling(seconds: float) -> None:
    interval = RemoteExecutor.next_seconds_between_status_checks
    RemoteExecutor.next_seconds_between_status_checks = property(
        interval.fget, lambda self, value: interval.fset(self, min(value, seconds)))


if __name__ == "__main__":
    cap_status_polling(float(sys.argv[1]))
    from snakemake.cli import main

    sys.exit(main(sys.argv[2:]))
