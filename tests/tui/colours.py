"""Colour escapes in terminal output: which SGR parameters set a colour (not the default one)."""

import re

_SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def colour_codes(output: str) -> list[str]:
    """The SGR sequences of `output` that set a foreground, background or underline colour.

    Bold, dim, reverse and the like are no colour; 39 and 49 (the terminal's default
    colours) are none either.
    """
    found = []
    for match in _SGR.finditer(output):
        params = [p for p in re.split("[;:]", match.group(1)) if p]
        index = 0
        while index < len(params):
            code = int(params[index])
            if code in (38, 48, 58):  # extended colour: 5;n or 2;r;g;b follow
                found.append(match.group(0))
                break
            if 30 <= code <= 37 or 40 <= code <= 47 or 90 <= code <= 97 or 100 <= code <= 107:
                found.append(match.group(0))
                break
            index += 1
    return found
