"""Alert rules: which regions open, keep or close an alert each week."""
