"""Pure mapping, one module per direction: ``orders`` (Framework360 → TotalGest), ``products`` (TotalGest → Framework360)."""
