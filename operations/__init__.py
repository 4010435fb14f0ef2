"""Operations: the unattended weekly cycle and the demo, wiring publication, verification and webhooks."""
