"""geak's shipped models, as package data (geak.resources); no code."""
