"""Timing, SQL capture and the machine: the pieces ``run.py`` measures with."""

import contextlib
import math
import os
import platform
import re
import statistics
import time
from dataclasses import dataclass, field

import sqlalchemy as sa


@dataclass
class Figure:
    """One measured figure: its samples (seconds, or megabytes for memory) and its target."""

    name: str
    samples: list[float]
    target: float
    unit: str = "ms"
    #: Compare the median (True) or the single value (memory, one-off runs).
    note: str = ""
    #: Printed for information, with no verdict (e.g. the statistics with an empty cache).
    informative: bool = False
    queries: int | None = None
    extra: dict = field(default_factory=dict)
    #: A page's second target: its p95 (None: the median's target only).
    p95_target: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    @property
    def passed(self) -> bool:
        return self.informative or (self.median <= self.target and (
            self.p95_target is None or self.p95 <= self.p95_target))

    def row(self) -> str:
        scale = 1000 if self.unit == "ms" else 1
        if self.unit == "ms":
            both = f"{self.target * scale:g}" + (
                f"/{self.p95_target * scale:g}" if self.p95_target is not None else "")
            med, p95, target = (f"{self.median * scale:8.1f} ms", f"{self.p95 * scale:8.1f} ms",
                                f"≤ {both} ms")
        elif self.unit == "s":
            med, p95, target = (f"{self.median:8.2f} s ", f"{self.p95:8.2f} s ", f"≤ {self.target:g} s")
        elif self.unit == "x":
            med, p95, target = f"{self.median:8.2f} x ", f"{'':11}", f"≤ {self.target:g} x"
        else:
            med, p95, target = (f"{self.median:8.1f} MB", f"{self.p95:8.1f} MB", f"≤ {self.target:g} MB")
        verdict = "info" if self.informative else "PASS" if self.passed else "MISS"
        return f"{self.name:<46} {med} {p95}  {target:<10} {verdict}  {self.note}".rstrip()


HEADER = f"{'figure':<46} {'median':>11} {'p95':>11}  {'target':<10} result"


def time_calls(call, repeat: int, warmup: int = 2, setup=None) -> list[float]:
    """Run ``call`` ``warmup`` times untimed, then ``repeat`` times; the durations in seconds.
    ``setup``, when given, runs untimed before each call."""
    for _ in range(warmup):
        if setup:
            setup()
        call()
    samples = []
    for _ in range(repeat):
        if setup:
            setup()
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return samples


@contextlib.contextmanager
def capture_sql(engine: sa.Engine):
    """Every statement the engine sends, with its parameters, as the DBAPI receives them."""
    statements: list[tuple[str, object, bool]] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters, executemany))

    sa.event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)


def time_bare(engine: sa.Engine, statements, repeat: int, warmup: int = 2) -> list[float]:
    """The same statements straight on a DBAPI connection (no ORM, no Flask): the floor."""
    raw = engine.raw_connection()
    try:
        def run():
            cursor = raw.cursor()
            for statement, parameters, many in statements:
                if statement.split(None, 1)[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK"):
                    continue  # transaction control: the floor runs in one transaction
                if many:
                    raise ValueError("executemany in a read-only page")
                if parameters is None or parameters == () or parameters == {}:
                    cursor.execute(statement)
                else:
                    cursor.execute(statement, parameters)
                if cursor.description is not None:
                    cursor.fetchall()
            cursor.close()
            raw.rollback()

        return time_calls(run, repeat, warmup)
    finally:
        raw.close()


def machine() -> dict:
    """CPU model, cores, memory, OS, load: printed first with every run."""
    import psutil

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            found = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            if found:
                cpu = found.group(1).strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": psutil.virtual_memory().total / 2**30,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load": os.getloadavg(),
    }


def database_version(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return "SQLite " + conn.exec_driver_sql("SELECT sqlite_version()").scalar()
        return conn.exec_driver_sql("SHOW server_version").scalar().join(("PostgreSQL ", ""))


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB."""
    import resource

    import psutil

    current = psutil.Process().memory_info().rss / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    return current, peak
