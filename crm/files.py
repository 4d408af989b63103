"""Files left on disk by a step that did not finish: pending uploads, import jobs' progress files,
storage's temporary files. Each is deleted once it is older than its folder allows."""

from collections.abc import Iterable
from pathlib import Path


def delete_older_than(paths: Iterable[Path], cutoff: float) -> int:
    """Delete the regular files among ``paths`` last modified before ``cutoff`` (a Unix time);
    return how many. A file another process removes meanwhile is simply not counted."""
    deleted = 0
    for path in paths:
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                deleted += 1
        except FileNotFoundError:
            continue
    return deleted
