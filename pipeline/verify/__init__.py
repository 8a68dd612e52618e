"""`vpipe verify`: an anonymized output re-examined against its original and its audit."""
