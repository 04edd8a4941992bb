"""Pure wire-format code: parsing, validation and shapes. No Django, no I/O."""
