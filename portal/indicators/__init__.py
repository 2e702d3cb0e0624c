"""The programme's indicators for supervisors and administrators: figures, charts and CSV."""
