"""xs:duration as WS-Man uses it (w:OperationTimeout, rsp:IdleTimeOut)."""

import re

_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse(value):
    """Seconds as a float, or None if value is not a non-negative duration.
    Years and months count as 365 and 30 days (nobody sends them)."""
    if not value:
        return None
    m = _DURATION.match(value.strip())
    if not m or value.strip() in ("P", "PT") or value.strip().endswith("T"):
        return None
    y, mo, d, h, mi, s = m.groups()
    total = (int(y or 0) * 365 + int(mo or 0) * 30 + int(d or 0)) * 86400
    total += int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
    return total


def format_seconds(seconds):
    """The form Windows echoes in rsp:IdleTimeOut, e.g. PT7200.000S."""
    return "PT%.3fS" % seconds


def format_dhms(seconds):
    """The form of rsp:ShellRunTime / rsp:ShellInactivity: P0DT0H0M0S."""
    seconds = int(seconds)
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    return "P%dDT%dH%dM%dS" % (d, h, m, s)
