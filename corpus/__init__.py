"""The backtest corpus the auditor is scored on (auditor/backtest.py): a realistic clean run built
with no engine (synthetic.py, synthetic_engine.py), the planted-flaw registry and answer keys
(plants*.py), and cases of other tools' formats built by geak's own importers (plants_import.py,
geak_rows.py). A development package beside the auditor, not shipped with it (issue 35): `geak cases` needs a
source checkout and says so. It imports nothing of geak outside geak.auditor; the auditor never imports it."""
