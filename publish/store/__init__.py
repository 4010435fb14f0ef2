"""The scores store: append-only publications, scores, alerts and verifications, and the queries over them."""
