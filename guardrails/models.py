"""Guardrail policies (block / mask / flag) land here with the guardrails issue."""
