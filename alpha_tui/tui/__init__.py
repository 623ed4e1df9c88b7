"""The Textual explorer. Imports no torch: capture runs behind a loader callable."""
