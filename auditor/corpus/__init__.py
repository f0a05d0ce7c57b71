"""The backtest corpus the auditor is scored on (auditor/backtest.py): a realistic clean run built
with no engine (synthetic.py, synthetic_engine.py), the planted-flaw registry and answer keys
(plants*.py), and cases of other tools' formats built by geak's own importers (plants_import.py,
geak_rows.py). It imports nothing outside geak.auditor; the auditor's checks never import it."""
