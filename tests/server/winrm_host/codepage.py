"""Transcoding between the Linux side (UTF-8) and the shell's code page.

WinRS delivers a console program's bytes in the shell's code page
(WINRS_CODEPAGE; 65001 is UTF-8, 437 the OEM default pywinrm asks for).
Processes here write UTF-8, so output is re-encoded into the code page and
client stdin is decoded from it.  Unencodable characters become '?', as a
Windows console does.
"""

import codecs

UTF8 = 65001


def codec_name(codepage):
    """Python codec for a Windows code page number, or None if unknown."""
    if codepage == UTF8:
        return "utf-8"
    try:
        return codecs.lookup("cp%d" % codepage).name
    except LookupError:
        return None


class Transcoder:
    """Incremental src -> dst re-encoder; keeps partial multi-byte
    sequences between chunks so a character split across two pipe reads is
    not mangled."""

    def __init__(self, src, dst):
        self.passthrough = codecs.lookup(src).name == codecs.lookup(dst).name
        self.decoder = codecs.getincrementaldecoder(src)(errors="replace")
        self.dst = dst

    def feed(self, data, final=False):
        if self.passthrough:
            return data
        text = self.decoder.decode(data, final)
        return text.encode(self.dst, errors="replace")


def output_transcoder(codepage):
    return Transcoder("utf-8", codec_name(codepage))


def input_transcoder(codepage):
    return Transcoder(codec_name(codepage), "utf-8")
