"""The error users see when their input is wrong: where, which field, what is wrong, what to do."""

from __future__ import annotations


class DataError(ValueError):
    """Bad user input, printed as `path:line: field: reason — what to do`.

    Every part but `reason` is optional; `at()` adds the location once the caller knows it.
    """

    def __init__(self, reason: str, *, path=None, line: int | None = None, field: str | None = None,
                 hint: str | None = None):
        self.reason, self.path, self.line, self.field, self.hint = reason, path, line, field, hint
        super().__init__(str(self))

    def __str__(self) -> str:
        location = f"{self.path}:{self.line}" if self.path is not None and self.line is not None else self.path
        parts = [str(part) for part in (location, self.field, self.reason) if part is not None]
        return ": ".join(parts) + (f" — {self.hint}" if self.hint else "")

    def __reduce__(self):  # keep keyword arguments through pickling (multiprocessing, pytest-xdist)
        return _rebuild, (self.reason, self.path, self.line, self.field, self.hint)

    def at(self, path, line: int | None = None) -> DataError:
        """The same error, located in `path` (at `line`), unless it already names a place."""
        if self.path is not None:
            return self
        return DataError(self.reason, path=path, line=line, field=self.field, hint=self.hint)


def _rebuild(reason, path, line, field, hint) -> DataError:
    return DataError(reason, path=path, line=line, field=field, hint=hint)
