"""Checking a method's settings given by name (``-p KEY=VALUE``, ``params=``)."""

from __future__ import annotations

from xling.exceptions import XlingError

__all__ = ["coerce_setting"]


def coerce_setting(method: str, key: str, value, default):
    """``value`` checked against the type of the setting's default (ints accept whole floats).

    Settings whose default is None (or not a plain bool, number or string) are
    passed through for the estimator's own checks.

    Raises
    ------
    XlingError
        Naming the method, the setting, what was expected and what was given.
    """
    if default is None or value is None or not isinstance(default, (bool, int, float, str)):
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise XlingError(f"Method {method!r}: expected True or False for setting {key!r}, got {value!r}")
    elif isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise XlingError(f"Method {method!r}: expected a number for setting {key!r}, got {value!r}")
        if isinstance(default, int) and not isinstance(value, int):
            if float(value).is_integer():
                return int(value)
            raise XlingError(f"Method {method!r}: expected an integer for setting {key!r}, got {value!r}")
    elif not isinstance(value, str):
        raise XlingError(f"Method {method!r}: expected a string for setting {key!r}, got {value!r}")
    return value
