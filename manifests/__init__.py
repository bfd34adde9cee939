"""Each platform's app manifest and setup notes, shipped as package data.

`mio manifests <platform>` reads them through importlib.resources, so they work from an
installed wheel as well as from a checkout (the README links the same files).
"""
