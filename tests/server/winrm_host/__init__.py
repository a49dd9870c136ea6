"""A local stand-in for a Windows WinRM service (WS-Management + WinRS).

Used by winrsh's integration tests; see ../README.md.  Standard library,
python3-yaml and python3-gssapi only, run by Debian's /usr/bin/python3.
"""
