"""Reports: self-contained HTML pages (Plotly JS inlined from the installed package, no network)."""
