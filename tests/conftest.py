"""Shared pytest setup. hhcourse.grading.plugin adds --impl, the `impl` fixture and the points/exercise markers.

Fixtures shared by several test files live in their own modules, listed here."""

pytest_plugins = ["hhcourse.grading.plugin"]
