"""HTML shared by the web UI and ``cairn report``: the Jinja2 environment and its filters,
the templates, the stylesheet, the chart script and the vendored libraries, and the SVG
drawings (lineage graph, parallel coordinates). It renders what it is given and reads no
store, so a report needs no server and the server's pages and the report look alike."""
