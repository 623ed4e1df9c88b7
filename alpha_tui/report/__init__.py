"""The headless diagnosis: a JSON-able report and its plain-text rendering."""
