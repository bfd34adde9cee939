"""Each platform's app manifest and setup notes, shipped as package data.

`mio manifests <platform>` reads them through importlib.resources, so they work from an
installed wheel as well as from a checkout (the README links the same files). A folder's
`_package.json`, when there is one, declares which settings fill in its placeholders, which
files are zipped and what the admin does next (teams/); a folder without one is copied with
YOUR-HOST filled in. Files whose names start with `_` are the folder's own, never written out.
"""
