"""The weekly publication: data as of the cut-off, the model, scores, alerts and files recorded once,
and its verification."""
